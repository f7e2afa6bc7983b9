"""rename tasks.title to name (breaks the backend, which still reads title)"""
from alembic import op

revision = "d4"
down_revision = "c3"


def upgrade():
    op.alter_column("tasks", "title", new_column_name="name")


def downgrade():
    op.alter_column("tasks", "name", new_column_name="title")
