from alembic import op
import sqlalchemy as sa

revision = 'aaaaaaaaaa02'
down_revision = 'aaaaaaaaaa01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.String(32), nullable=True))
        batch_op.create_unique_constraint(None, ["key"])  # expect: unnamed-constraint


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(None, type_="unique")  # expect: unnamed-constraint
        batch_op.drop_column("key")
