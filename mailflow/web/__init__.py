"""The staff console: server-rendered pages over the same functions as the CLI (mailflow.staff)."""
