"""Log lines that cannot be forged: a message's control characters are written escaped.

Messages carry what users wrote (a version, a header value, a request token). The CRD
refuses control characters in them, but an object from before that rule, an annotation
or an API server's error text may still hold a newline or a terminal escape: written
as is, it would start a fake log line or drive the reader's terminal.
"""

from __future__ import annotations

import logging

from modelrollout.api.printable import escaped


class OneLineFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escaped(record.message)
        return super().formatMessage(record)


def configure(level: int) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
