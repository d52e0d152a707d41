"""training_metadata: the seed's TrainingMetadata model

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

from musicml.genmeta.db import JSONColumn

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_metadata",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("userId", sa.String(200), nullable=False),
        sa.Column("generationId", sa.String(200), nullable=False, unique=True),
        sa.Column("userPrompt", sa.Text(), nullable=False),
        sa.Column("aiEnhancedPrompt", sa.Text()),
        sa.Column("generationParams", JSONColumn(), nullable=False),
        sa.Column("audioUrl", sa.Text(), nullable=False),
        sa.Column("audioStorageKey", sa.Text()),
        sa.Column("duration", sa.Float()),
        sa.Column("format", sa.String(32)),
        sa.Column("analysisMetadata", JSONColumn()),
        sa.Column("audioEmbedding", JSONColumn()),
        sa.Column("spectralFeatures", JSONColumn()),
        sa.Column("userFeedback", JSONColumn()),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("modelUsed", sa.String(200)),
        sa.Column("generationCost", sa.Float()),
        sa.Column("generationDuration", sa.Float()),
        sa.Column("usedForTraining", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("trainingEpoch", sa.Integer()),
        sa.Column("qualityScore", sa.Float()),
        sa.Column("createdAt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updatedAt", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("userId", "provider", "usedForTraining", "createdAt"):
        op.create_index(f"ix_training_metadata_{column}", "training_metadata", [column])


def downgrade() -> None:
    op.drop_table("training_metadata")
