from alembic import op
import sqlalchemy as sa

revision = 'dddddddddd02'
down_revision = 'dddddddddd01'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_context().dialect.name == "sqlite":
        with op.batch_alter_table("users") as batch_op:
            batch_op.alter_column("email", type_=sa.String(400))
        return
    op.alter_column("users", "email", type_=sa.String(400))


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect != "sqlite":
        op.alter_column("users", "email", type_=sa.String(320))
    else:
        with op.batch_alter_table("users") as batch_op:
            batch_op.alter_column("email", type_=sa.String(320))
