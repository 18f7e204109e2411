"""Registers the real-server fixtures (Dovecot, aiosmtpd, PostgreSQL) for every test."""

pytest_plugins = ["tests.fixtures.servers"]
