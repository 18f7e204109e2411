"""Reading functions for the reader-process tests. They run in a reader process, which imports this module
by name: it must stay as light as the reader itself (no test factories, no database)."""

from __future__ import annotations

import os
import sys
import time
from email.message import EmailMessage
from typing import Any

from mailflow.pipeline.reading import MailReading, read_proposals

DAEMON_ONLY = {"sqlalchemy", "jinja2", "imapclient", "apscheduler", "msal", "starlette", "openpyxl", "alembic"}


def dies_on_the_first(message: EmailMessage, *args: Any) -> MailReading:
    if str(message["Subject"]) == "Proposition 1":
        os._exit(3)
    return read_proposals(message, *args)


def never_ends(*_args: Any) -> MailReading:
    time.sleep(600)
    raise AssertionError("unreachable")


def reads_without_the_daemons_code(message: EmailMessage, *args: Any) -> MailReading:
    loaded = sorted({name.split(".")[0] for name in sys.modules} & DAEMON_ONLY)
    if loaded:
        raise AssertionError(f"the reader process loaded {loaded}")
    return read_proposals(message, *args)
