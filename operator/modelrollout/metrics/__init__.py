"""Metric providers (Prometheus first) and built-in query templates."""
