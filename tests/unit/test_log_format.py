"""A log message cannot forge a line or drive the reader's terminal."""

from __future__ import annotations

import io
import logging

from modelrollout.handlers.log_format import OneLineFormatter


def test_a_message_is_one_line_with_its_controls_escaped() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(OneLineFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("test-log-format")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("%s/%s: %s", "ns", "md", "v2\nINFO modelrollout: promoted \x1b[2J\u202e")
    finally:
        log.removeHandler(handler)
    written = out.getvalue()
    assert written.count("\n") == 1, written
    assert written == "WARNING ns/md: v2\\nINFO modelrollout: promoted \\x1b[2J\\u202e\n"
