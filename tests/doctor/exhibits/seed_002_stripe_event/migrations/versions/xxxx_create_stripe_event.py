# migrations/versions/xxxx_create_stripe_event.py
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "xxxx_create_stripe_event"  # expect: broken-revision-link
down_revision = "<put the current head here>"  # single head only  # expect: broken-revision-link
branch_labels = None
depends_on = None

def upgrade():
    op.create_table(
        "stripe_event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(128)),
        sa.Column("received_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("processed_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("event_id", name="uq_stripe_event_event_id"),
    )

def downgrade():
    op.drop_table("stripe_event")
