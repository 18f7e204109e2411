"""Logging: one line per event on stdout (journald reads it), plain or JSON."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from mailflow.settings import LoggingSettings


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the fields a log search needs."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("reference", "message_id", "outcome"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(settings: LoggingSettings) -> None:
    """Send mailflow's log to stdout in the configured format."""
    handler = logging.StreamHandler(sys.stdout)
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    for noisy in ("imapclient", "apscheduler", "pdfminer", "mail.log", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
