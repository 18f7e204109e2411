"""Alembic environment: runs against the engine mailflow passes in (see mailflow.db.engine)."""

from alembic import context
from sqlalchemy import engine_from_config, pool, text

from mailflow.db.models import Base

# Daemons started together on one empty PostgreSQL database would each create the tables: the first
# takes this lock for its upgrade, the others wait for it and then find the schema up to date.
UPGRADE_LOCK = 0x6D66_0001

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    engine = engine_from_config(config.get_section(config.config_ini_section) or {}, poolclass=pool.NullPool)

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK})
        context.run_migrations()
    connection.commit()
