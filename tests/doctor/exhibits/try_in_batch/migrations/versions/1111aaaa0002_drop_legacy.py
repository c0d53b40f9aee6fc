from alembic import op
import sqlalchemy as sa

revision = '1111aaaa0002'
down_revision = '1111aaaa0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legacy", sa.Integer(), nullable=True))
        try:  # expect: try-in-batch
            batch_op.drop_column("tier_key")
        except Exception:
            pass


def downgrade():
    # Look-alike: a try around the whole block does catch what runs at the block's exit.
    try:
        with op.batch_alter_table("users", schema=None) as batch_op:
            batch_op.drop_column("legacy")
    except Exception:
        pass
