"""The training-metadata REST service: a FastAPI app factory over a :class:`~musicml.genmeta.db.Store`.

Routes (all under ``/api/training-metadata``) follow the seed: POST a record
(analysis runs in the background), GET one, PUT its feedback, stream JSONL or
CSV exports, statistics, nearest neighbours by embedding; plus ``/health``.
:func:`create_app` returns a plain FastAPI app, so later services can mount
more routers on it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Optional

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from musicml.errors import MusicmlError
from musicml.genmeta.analysis import AnalysisSettings, analyze_one
from musicml.genmeta.db import DuplicateError, Store
from musicml.genmeta.export import finetune_row, iter_csv, matches
from musicml.genmeta.fetch import fetch_audio, local_path
from musicml.genmeta.quality import QualityWeights, quality_score
from musicml.genmeta.records import Feedback, RecordIn, describe_error, record_dict

PREFIX = "/api/training-metadata"
# What the export rows read: the embedding and spectral features are the bulk of a row and are not exported.
EXPORT_COLUMNS = ("generationId", "userPrompt", "aiEnhancedPrompt", "generationParams", "audioUrl", "duration",
                  "analysisMetadata", "userFeedback", "provider", "modelUsed", "qualityScore", "createdAt")


@dataclass(frozen=True)
class ServiceSettings:
    """Everything the service is configured with (``musicml serve`` fills it from options and params)."""

    token: str | None = None
    export_rate_limit_per_minute: int = 30
    max_audio_bytes: int = 50 * 1024 * 1024
    fetch_timeout_s: float = 20.0
    audio_dir: str = "genmeta_audio"
    weights: QualityWeights = field(default_factory=QualityWeights)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)


class RateLimiter:
    """At most ``per_minute`` calls per client in any 60-second window (0 = unlimited); thread-safe."""

    def __init__(self, per_minute: int, *, clock=time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self._calls: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """0 when the call may go ahead (and is counted), else seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            calls = self._calls[client]
            while calls and now - calls[0] >= 60.0:
                calls.popleft()
            if len(calls) >= self.per_minute:
                return 60.0 - (now - calls[0])
            calls.append(now)
            return 0.0


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "error": message}, status_code=status)


def analyse_and_store(store: Store, settings: ServiceSettings, generation_id: str) -> None:
    """Fetch a stored record's audio, analyse it and save the analysis and quality score.

    Failures (unreachable URL, unreadable audio) are written to the record's
    ``analysisMetadata.analysisError``; nothing is raised to the caller.
    """
    record = store.get(generation_id)
    if record is None:  # deleted meanwhile
        return
    try:
        path = fetch_audio(record["audioUrl"], dest_dir=settings.audio_dir, name=generation_id,
                           max_bytes=settings.max_audio_bytes, timeout_s=settings.fetch_timeout_s)
    except MusicmlError as exc:
        meta = dict(record.get("analysisMetadata") or {}, analysisError=str(exc))
        meta.pop("status", None)
        store.update(generation_id, analysisMetadata=meta,
                     qualityScore=quality_score({**record, "analysisMetadata": meta}, settings.weights))
        return
    analysed = analyze_one(record, path, settings.analysis)
    analysed["analysisMetadata"].pop("status", None)
    values = {k: analysed.get(k) for k in ("analysisMetadata", "spectralFeatures", "audioEmbedding")}
    if "analysisError" not in analysed["analysisMetadata"]:
        values.update(duration=analysed["duration"], format=analysed["format"])
    if local_path(record["audioUrl"]) is None:  # downloaded: the service's copy is where the audio now lives
        values["audioStorageKey"] = str(path)
    # Feedback may have arrived while analysing: score with the newest record.
    latest = store.get(generation_id) or record
    values["qualityScore"] = quality_score({**latest, **values}, settings.weights)
    store.update(generation_id, **values)


def create_app(store: Store, settings: ServiceSettings = ServiceSettings()) -> FastAPI:
    """The service app over ``store``; ``app.state.store`` and ``app.state.settings`` hold them."""
    app = FastAPI(title="musicml training metadata", version="1")
    app.state.store = store
    app.state.settings = settings
    limiter = RateLimiter(settings.export_rate_limit_per_minute)
    Path(settings.audio_dir).mkdir(parents=True, exist_ok=True)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError):
        # One line naming the field, without the "body"/"query" location prefix.
        name, msg = describe_error(exc.errors()[0], skip=("body", "query", "path"))
        return _error(422, f"field '{name}': {msg}")

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException):
        response = _error(exc.status_code, str(exc.detail))
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response

    def require_token(request: Request) -> None:
        if not settings.token:
            return
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-api-token")
        if given != settings.token:
            raise HTTPException(401, "missing or wrong API token (Authorization: Bearer <MUSICML_API_TOKEN>)",
                                headers={"WWW-Authenticate": "Bearer"})

    def rate_limited(request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        wait = limiter.retry_after(client)
        if wait > 0:
            raise HTTPException(429, f"export rate limit: {settings.export_rate_limit_per_minute} per minute",
                                headers={"Retry-After": str(int(wait) + 1)})

    router = APIRouter(prefix=PREFIX)

    @router.post("", status_code=201, dependencies=[Depends(require_token)])
    def create(body: RecordIn, background: BackgroundTasks):
        """Save a generation's metadata; its audio is fetched and analysed in the background."""
        record = record_dict(body)
        meta = dict(record.get("analysisMetadata") or {}, status="pending")
        record["analysisMetadata"] = meta
        record["qualityScore"] = None
        try:
            saved = store.create(record)
        except DuplicateError as exc:
            raise HTTPException(409, str(exc)) from exc
        background.add_task(analyse_and_store, store, settings, saved["generationId"])
        return {"success": True, "id": saved["id"], "generationId": saved["generationId"], "analysis": "pending"}

    @router.get("/export/jsonl", dependencies=[Depends(require_token), Depends(rate_limited)])
    def export_jsonl(provider: Optional[str] = None, genre: Optional[str] = None,
                     minQualityScore: Optional[float] = Query(None, ge=0, le=1),
                     withFeedback: Optional[bool] = None, since: Optional[datetime] = None):
        """Fine-tuning rows (the stage's JSONL shape), streamed."""
        rows = _filtered(provider, genre, minQualityScore, withFeedback, since)
        return StreamingResponse((json.dumps(finetune_row(r), sort_keys=True) + "\n" for r in rows),
                                 media_type="application/x-ndjson",
                                 headers={"Content-Disposition": "attachment; filename=training_data.jsonl"})

    @router.get("/export/csv", dependencies=[Depends(require_token), Depends(rate_limited)])
    def export_csv(provider: Optional[str] = None, genre: Optional[str] = None,
                   minQualityScore: Optional[float] = Query(None, ge=0, le=1),
                   withFeedback: Optional[bool] = None, since: Optional[datetime] = None):
        """The seed's CSV columns, streamed."""
        rows = _filtered(provider, genre, minQualityScore, withFeedback, since)
        return StreamingResponse(iter_csv(rows), media_type="text/csv",
                                 headers={"Content-Disposition": "attachment; filename=training_data.csv"})

    def _filtered(provider, genre, min_quality, with_feedback, since) -> Iterator[dict[str, Any]]:
        rows = store.iter_records(provider=provider, min_quality=min_quality, with_feedback=with_feedback,
                                  since=since, columns=EXPORT_COLUMNS)
        # Genre lives inside the generationParams JSON: filtered here, portable across databases.
        return (r for r in rows if matches(r, genre=genre))

    @router.get("/statistics/overview")
    def statistics():
        return {"success": True, "statistics": store.overview()}

    @router.get("/similar/{generationId}")
    def similar(generationId: str, limit: int = Query(5, ge=1, le=100)):
        """The nearest analysed records by audioEmbedding (Euclidean)."""
        try:
            found = store.similar(generationId, limit=limit)
        except ValueError as exc:
            raise HTTPException(409, f"{exc} (analysis pending or failed)") from exc
        if found is None:
            raise HTTPException(404, f"generationId {generationId!r} not found")
        return {"success": True, "generationId": generationId, "similar": found}

    @router.get("/{generationId}")
    def get_one(generationId: str):
        record = store.get(generationId)
        if record is None:
            raise HTTPException(404, f"generationId {generationId!r} not found")
        return {"success": True, "metadata": record}

    @router.put("/{generationId}/feedback", dependencies=[Depends(require_token)])
    def put_feedback(generationId: str, body: Feedback):
        """Update feedback (given fields replace, others stay) and recompute the quality score."""
        record = store.get(generationId)
        if record is None:
            raise HTTPException(404, f"generationId {generationId!r} not found")
        feedback = {**(record.get("userFeedback") or {}), **body.model_dump(exclude_none=True)}
        score = quality_score({**record, "userFeedback": feedback}, settings.weights)
        updated = store.update(generationId, userFeedback=feedback, qualityScore=score)
        if updated is None:  # deleted between the two calls
            raise HTTPException(404, f"generationId {generationId!r} not found")
        return {"success": True, "userFeedback": feedback, "qualityScore": score}

    app.include_router(router)

    @app.get("/health")
    def health():
        ok = store.ping()
        return JSONResponse({"status": "ok" if ok else "degraded", "database": "ok" if ok else "unreachable"},
                            status_code=200 if ok else 503)

    return app

