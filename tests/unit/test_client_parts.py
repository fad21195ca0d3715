"""The kubernetes client's parts the operator uses are imported at startup, so a
standby taking the Lease does not import them with every loop waiting."""

from __future__ import annotations

import subprocess
import sys

from modelrollout.handlers.client_parts import USED

PROBE = """
import sys
from modelrollout.handlers import client_parts
from kubernetes import client
before = {name for name in client_parts.USED if name in vars(client)}
client_parts.import_now()
after = {name for name in client_parts.USED if name in vars(client)}
print(sorted(before), sorted(after), "kubernetes.client.api.apps_v1_api" in sys.modules)
"""


def test_the_client_parts_are_imported_by_import_now_and_not_before() -> None:
    ran = subprocess.run(  # a fresh interpreter: nothing imported by other tests
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert ran.stdout.split("] [")[0] == "[", "the client imports them lazily: a first use"
    assert ran.stdout.strip().endswith("True")
    for name in USED:
        assert repr(name) in ran.stdout.split("] [")[1]
