"""Registers the real-server fixtures (Dovecot, aiosmtpd, PostgreSQL) and marks each test by the servers it uses.

The markers (declared in pyproject.toml) let a developer pick the tests that fit the moment:
`scripts/test -m "not slow"` is the quick loop, `-m "not imap"` skips everything that needs Dovecot.
They are derived from the fixtures a test uses, directly or through another fixture, so no list of
test names has to be kept by hand; only `slow` is written on the tests themselves.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.fixtures.servers"]

# Fixture name -> marker. The shared fixtures of tests/fixtures/servers.py, the browser fixtures by their
# usual names, then the module-local fixtures that start their own server from tests/fixtures.
FIXTURE_MARKERS: dict[str, str] = {
    "dovecot": "imap",
    "imap_server": "imap",
    "dovecot_without_idle": "imap",  # tests/test_polling.py: a Dovecot of its own, IDLE left out
    "smtp_server": "smtp",
    "smtp": "smtp",
    "postgres_url": "postgresql",
    "postgres_module_url": "postgresql",
    "browser": "browser",
    "page": "browser",
    "oauth_dovecot": "imap",  # test_oauth_imap.py: start_dovecot(auth="oauth2")
    "tls_server": "smtp",  # test_send.py: start_smtp(tls=True)
    "xoauth2_server": "smtp",  # test_oauth.py: start_xoauth2_smtp (aiosmtpd)
}


def server_markers(item: pytest.Item) -> set[str]:
    """The markers a test gets from the fixtures it uses (`fixturenames` is the transitive closure)."""
    names = set(getattr(item, "fixturenames", ()))
    markers = {marker for fixture, marker in FIXTURE_MARKERS.items() if fixture in names}
    # db_url asks for PostgreSQL at run time (getfixturevalue), only in its "postgresql" parameter.
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("db_url") == "postgresql":
        markers.add("postgresql")
    return markers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Add the imap/smtp/postgresql/browser markers before `-m` deselects anything."""
    for item in items:
        for marker in sorted(server_markers(item)):
            item.add_marker(marker)
