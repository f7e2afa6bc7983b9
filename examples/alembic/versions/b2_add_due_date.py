"""add tasks.due_date"""
from alembic import op
import sqlalchemy as sa

revision = "b2"
down_revision = "a1"


def upgrade():
    op.add_column("tasks", sa.Column("due_date", sa.DateTime(timezone=True)))


def downgrade():
    op.drop_column("tasks", "due_date")
