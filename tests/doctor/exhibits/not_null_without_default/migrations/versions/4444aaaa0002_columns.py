from alembic import op
import sqlalchemy as sa

revision = '4444aaaa0002'
down_revision = '4444aaaa0001'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("user_limit", sa.Integer(), nullable=False))  # expect: not-null-without-default
    op.add_column("users", sa.Column("is_exempt", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("users", sa.Column("note", sa.Text(), nullable=True))
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("provider", sa.String(32), nullable=False, default="exempt"))  # expect: not-null-without-default
    op.create_table("teams", sa.Column("id", sa.Integer(), primary_key=True))
    op.add_column("teams", sa.Column("name", sa.String(64), nullable=False))


def downgrade():
    op.drop_table("teams")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("provider")
        batch_op.drop_column("note")
        batch_op.drop_column("is_exempt")
        batch_op.drop_column("user_limit")
