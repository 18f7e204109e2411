"""Alembic environment: runs against the engine mailflow passes in (see mailflow.db.engine)."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from mailflow.db.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    engine = engine_from_config(config.get_section(config.config_ini_section) or {}, poolclass=pool.NullPool)

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
