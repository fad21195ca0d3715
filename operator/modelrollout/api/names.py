"""What a ModelDeployment may be named: its name becomes the names of objects we create.

The Services `<name>-stable` and `<name>-canary` must be DNS-1035 labels (at most 63
characters; a lowercase letter first; lowercase letters, digits and '-'; no dots), and
`<name>` is also a label value on every object we create. So the name is a DNS-1035
label short enough for "-canary". The API server refuses other names (CEL on the
root of the CRD's schema), and `kubectl modelrollout lint` says the same.
"""

from __future__ import annotations

import re

from modelrollout.api.base import Rule

MAX_NAME_LENGTH = 63 - len("-canary")
_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

NAME_RULE = Rule(
    f"self.metadata.name.size() <= {MAX_NAME_LENGTH} && self.metadata.name.matches('{_LABEL}')",
    f"metadata.name must be at most {MAX_NAME_LENGTH} characters of lowercase letters, digits "
    "and '-', starting with a letter and ending with a letter or digit (no dots): the "
    "Services <name>-stable and <name>-canary are named after it",
    lambda name: len(name) <= MAX_NAME_LENGTH and re.match(_LABEL, name) is not None,
)
