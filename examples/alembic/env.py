import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from alembic import context
from sqlalchemy import create_engine, pool

from models import Base

url = os.environ.get("DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
