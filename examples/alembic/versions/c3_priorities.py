"""priorities"""
from alembic import op
import sqlalchemy as sa

revision = "c3"
down_revision = "b2"


def upgrade():
    op.create_table(
        "priorities",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
    )
    op.execute("INSERT INTO priorities VALUES (1, 'low'), (2, 'normal'), (3, 'high')")
    op.add_column("tasks", sa.Column("priority_id", sa.SmallInteger, sa.ForeignKey("priorities.id")))


def downgrade():
    op.drop_column("tasks", "priority_id")
    op.drop_table("priorities")
