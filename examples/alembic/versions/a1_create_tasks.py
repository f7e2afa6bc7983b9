"""create tasks"""
from alembic import op
import sqlalchemy as sa

revision = "a1"
down_revision = None


def upgrade():
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
    )
    op.execute("INSERT INTO tasks (title) SELECT 'task ' || g FROM generate_series(1, 100) g")


def downgrade():
    op.drop_table("tasks")
