"""The judge's checks, a file per kind and a row per kind in table.py: what each reads
(reads.py's plan, carried out by a metrics provider) and how a look turns into evidence
(rates.py for rates, distributions.py for distributions)."""
