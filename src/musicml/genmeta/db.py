"""The training-metadata database: SQLAlchemy model, Alembic migrations and the queries the service needs.

One URL picks the database: SQLite by default (``sqlite:///path.db``),
PostgreSQL through the same code (``postgresql+psycopg://user:pw@host/db``).
JSON columns are native JSONB on PostgreSQL and text on SQLite behind one
type (:class:`JSONColumn`).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from sqlalchemy import (Boolean, DateTime, case, Float, Integer, String, Text, create_engine, delete, event, func,
                        select, update)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from musicml.errors import ConfigError, MusicmlError

MIGRATIONS = Path(__file__).parent / "migrations"


class DuplicateError(MusicmlError):
    """A record with this generationId exists already."""


class JSONColumn(TypeDecorator):
    """JSON data: JSONB on PostgreSQL, key-sorted JSON text elsewhere (SQLite). SQL NULL for None."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value, dialect):
        if value is None or dialect.name == "postgresql":
            return value
        return json.dumps(value, sort_keys=True, allow_nan=False)

    def process_result_value(self, value, dialect):
        if value is None or dialect.name == "postgresql":
            return value
        return json.loads(value)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class TrainingMetadata(Base):
    """One generation: the seed's TrainingMetadata model (camelCase column names as there)."""

    __tablename__ = "training_metadata"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    userId: Mapped[str] = mapped_column(String(200), index=True)
    generationId: Mapped[str] = mapped_column(String(200), unique=True)
    userPrompt: Mapped[str] = mapped_column(Text)
    aiEnhancedPrompt: Mapped[str | None] = mapped_column(Text)
    generationParams: Mapped[dict] = mapped_column(JSONColumn, default=dict)
    audioUrl: Mapped[str] = mapped_column(Text)
    audioStorageKey: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column(Float)
    format: Mapped[str | None] = mapped_column(String(32))
    analysisMetadata: Mapped[dict | None] = mapped_column(JSONColumn)
    audioEmbedding: Mapped[list | None] = mapped_column(JSONColumn)
    spectralFeatures: Mapped[dict | None] = mapped_column(JSONColumn)
    userFeedback: Mapped[dict | None] = mapped_column(JSONColumn)
    provider: Mapped[str] = mapped_column(String(100), index=True)
    modelUsed: Mapped[str | None] = mapped_column(String(200))
    generationCost: Mapped[float | None] = mapped_column(Float)
    generationDuration: Mapped[float | None] = mapped_column(Float)
    usedForTraining: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    trainingEpoch: Mapped[int | None] = mapped_column(Integer)
    qualityScore: Mapped[float | None] = mapped_column(Float)
    createdAt: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    updatedAt: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


COLUMNS: tuple[str, ...] = tuple(c.name for c in TrainingMetadata.__table__.columns)
_DATES = ("createdAt", "updatedAt")


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: they were stored as UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    return _utc(moment).isoformat().replace("+00:00", "Z") if moment else None


def to_dict(row: TrainingMetadata) -> dict[str, Any]:
    """A row as the API's JSON record (ISO 8601 UTC dates)."""
    out = {c: getattr(row, c) for c in COLUMNS}
    for c in _DATES:
        out[c] = _iso(out[c])
    return out


def masked(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so concurrent writers wait, not fail."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {url!r}: not a valid SQLAlchemy URL") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every SQLite test
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(f"database {masked(url)}: {exc}") from exc


def migrate(engine: Engine) -> str:
    """Create or upgrade the schema to the newest Alembic revision; returns that revision.

    Raises
    ------
    ConfigError
        When the database cannot be reached (one line, password hidden).
    """
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision() or ""
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(f"database {masked(str(engine.url))}: cannot connect ({reason})") from exc


class Store:
    """The queries of the service and the maintenance commands over one database."""

    def __init__(self, url: str, *, migrate_schema: bool = True):
        self.url = url
        self.engine = make_engine(url)
        if migrate_schema:
            migrate(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._embedding_cache: tuple | None = None

    # ------------------------------------------------------------------ writes
    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        """Insert a validated record; :class:`DuplicateError` if its generationId exists."""
        values = {k: v for k, v in record.items() if k in COLUMNS and v is not None}
        for c in _DATES:
            if isinstance(values.get(c), str):
                values[c] = _utc(datetime.fromisoformat(values[c].replace("Z", "+00:00"))).astimezone(timezone.utc)
        row = TrainingMetadata(**values)
        with self.sessions() as s:
            s.add(row)
            try:
                s.commit()
            except IntegrityError as exc:
                s.rollback()
                raise DuplicateError(f"generationId {record['generationId']!r} exists already") from exc
            return to_dict(row)

    def update(self, generation_id: str, **values: Any) -> dict[str, Any] | None:
        """Set columns of one record; None when the id is unknown."""
        with self.sessions() as s:
            row = s.scalar(select(TrainingMetadata).where(TrainingMetadata.generationId == generation_id))
            if row is None:
                return None
            for k, v in values.items():
                setattr(row, k, v)
            row.updatedAt = _now()
            s.commit()
            return to_dict(row)

    def mark_used(self, generation_ids: Sequence[str], *, epoch: int) -> tuple[int, list[str]]:
        """Set usedForTraining and trainingEpoch; returns (updated count, unknown ids)."""
        ids = list(dict.fromkeys(generation_ids))
        with self.sessions() as s:
            known = set(s.scalars(select(TrainingMetadata.generationId)
                                  .where(TrainingMetadata.generationId.in_(ids))))
            s.execute(update(TrainingMetadata).where(TrainingMetadata.generationId.in_(known))
                      .values(usedForTraining=True, trainingEpoch=epoch, updatedAt=_now()))
            s.commit()
        return len(known), [i for i in ids if i not in known]

    def prune(self, *, older_than_days: float | None = None, user_id: str | None = None,
              now: datetime | None = None) -> list[dict[str, Any]]:
        """Delete records created more than ``older_than_days`` ago and/or of ``user_id``; returns them."""
        if older_than_days is None and user_id is None:
            raise ConfigError("prune: give --older-than DAYS and/or --user ID")
        cond = []
        if older_than_days is not None:
            cond.append(TrainingMetadata.createdAt < (now or _now()) - timedelta(days=older_than_days))
        if user_id is not None:
            cond.append(TrainingMetadata.userId == user_id)
        with self.sessions() as s:
            rows = [to_dict(r) for r in s.scalars(select(TrainingMetadata).where(*cond))]
            s.execute(delete(TrainingMetadata).where(*cond))
            s.commit()
        return rows

    # ------------------------------------------------------------------ reads
    def get(self, generation_id: str) -> dict[str, Any] | None:
        with self.sessions() as s:
            row = s.scalar(select(TrainingMetadata).where(TrainingMetadata.generationId == generation_id))
            return to_dict(row) if row else None

    def iter_records(self, *, provider: str | None = None, min_quality: float | None = None,
                     with_feedback: bool | None = None, since: datetime | None = None,
                     columns: Sequence[str] = COLUMNS, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Records oldest first, filtered in SQL, fetched ``batch`` rows at a time (flat memory).

        ``columns`` limits what is read (exports skip the embedding and
        spectral features). Keyset pagination on (createdAt, id) keeps each
        query short, so a long export never holds a transaction (or an SQLite
        read lock) open.
        """
        t = TrainingMetadata.__table__.c
        cond = []
        if provider is not None:
            cond.append(t.provider == provider)
        if min_quality is not None:
            cond.append(t.qualityScore >= min_quality)
        if with_feedback is not None:
            cond.append(t.userFeedback.is_not(None) if with_feedback else t.userFeedback.is_(None))
        if since is not None:
            # SQLite stores wall-clock UTC: compare in UTC, whatever offset the caller used.
            cond.append(t.createdAt >= _utc(since).astimezone(timezone.utc))
        names = list(dict.fromkeys([*columns, "createdAt", "id"]))
        last: tuple[datetime, str] | None = None
        while True:
            query = select(*(t[c] for c in names)).where(*cond)
            if last is not None:
                query = query.where((t.createdAt > last[0]) | ((t.createdAt == last[0]) & (t.id > last[1])))
            with self.engine.connect() as conn:
                rows = conn.execute(query.order_by(t.createdAt, t.id).limit(batch)).all()
            if not rows:
                return
            for row in rows:
                record = dict(zip(names, row))
                last = (record["createdAt"], record["id"])
                for c in _DATES:
                    if c in record:
                        record[c] = _iso(record[c])
                yield {c: record[c] for c in columns}

    def overview(self) -> dict[str, Any]:
        """The seed's statistics, computed in SQL (one aggregate pass and one group-by)."""
        t = TrainingMetadata
        with self.sessions() as s:
            total, with_feedback, average, used = s.execute(select(
                func.count(), func.count(t.userFeedback), func.avg(t.qualityScore),
                func.coalesce(func.sum(case((t.usedForTraining.is_(True), 1), else_=0)), 0))).one()
            by_provider = dict(s.execute(select(t.provider, func.count()).group_by(t.provider)).all())
        return {"totalGenerations": int(total), "byProvider": dict(sorted(by_provider.items())),
                "withFeedback": int(with_feedback),
                "averageQualityScore": round(float(average), 4) if average is not None else None,
                "usedForTraining": int(used)}

    def _embeddings(self) -> tuple[list[str], np.ndarray, list]:
        """(generationIds, embedding matrix, quality scores) of analysed records, cached until a write.

        Parsing every embedding's JSON costs about a second per 10,000
        records: the cache is rebuilt only when the row count or the newest
        updatedAt changes.
        """
        t = TrainingMetadata
        with self.sessions() as s:
            key = tuple(s.execute(select(func.count(), func.max(t.updatedAt))
                                  .where(t.audioEmbedding.is_not(None))).one())
            cached = self._embedding_cache
            if cached is not None and cached[0] == key:
                return cached[1]
            rows = s.execute(select(t.generationId, t.audioEmbedding, t.qualityScore)
                             .where(t.audioEmbedding.is_not(None)).order_by(t.generationId)).all()
        width = max((len(r[1]) for r in rows if r[1]), default=0)
        rows = [r for r in rows if r[1] and len(r[1]) == width]
        value = ([r[0] for r in rows], np.asarray([r[1] for r in rows], dtype=np.float64).reshape(len(rows), width),
                 [r[2] for r in rows])
        self._embedding_cache = (key, value)
        return value

    def similar(self, generation_id: str, *, limit: int) -> list[dict[str, Any]] | None:
        """Nearest analysed records by Euclidean distance of audioEmbedding; None if the id is unknown.

        Raises
        ------
        ValueError
            When the record has no embedding yet (analysis pending or failed).
        """
        t = TrainingMetadata
        with self.sessions() as s:
            target = s.execute(select(t.audioEmbedding).where(t.generationId == generation_id)).first()
        if target is None:
            return None
        if not target[0]:
            raise ValueError(f"generationId {generation_id!r} has no audioEmbedding yet")
        ids, matrix, scores = self._embeddings()
        if matrix.shape[1] != len(target[0]):
            return []
        dist = np.linalg.norm(matrix - np.asarray(target[0], dtype=np.float64), axis=1)
        order = [i for i in np.argsort(dist, kind="stable") if ids[i] != generation_id][:limit]
        return [{"generationId": ids[i], "distance": round(float(dist[i]), 6), "qualityScore": scores[i]}
                for i in order]

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except SQLAlchemyError:
            return False

    def close(self) -> None:
        self.engine.dispose()

