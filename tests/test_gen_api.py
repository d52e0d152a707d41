"""The training-metadata API, the same suite three ways.

* ``testclient``: FastAPI's TestClient on a temporary SQLite file (in-process, fast);
* ``server``: ``musicml serve`` started for real as a subprocess on a free port, talked to over HTTP;
* ``postgres``: the same server on PostgreSQL - with ``MUSICML_TEST_PG_URL``, or a throwaway
  server when Debian's PostgreSQL binaries are installed; skipped otherwise.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import yaml

from gen_helpers import record
from gen_servers import free_port, postgres_url, start_server, stop_server
from musicml.genmeta.quality import quality_score
from musicml.genmeta.synth import GENRES, render_loop

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
P = "/api/training-metadata"


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three short loops (two alike, one different) and a corrupt file."""
    folder = tmp_path_factory.mktemp("api_clips")
    spec = {"house_a": ("house", 124, 0), "house_b": ("house", 124, 0), "dnb": ("dnb", 172, 9)}
    for name, (genre, bpm, tonic) in spec.items():
        g = next(x for x in GENRES if x.name == genre)
        y = render_loop(bpm=bpm, tonic=tonic, mode="minor", genre=g, seconds=2.5, sr=22050,
                        rng=np.random.default_rng(len(name)), kit_index=1 if genre == "house" else 9, seed=5)
        sf.write(folder / f"{name}.wav", y, 22050, subtype="PCM_16")
    (folder / "broken.wav").write_bytes(b"RIFF....garbage" * 10)
    return folder


def _params_file(folder: Path, **serve) -> Path:
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    params["gen"]["serve"].update(serve)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="module", params=["testclient", "server", "postgres"])
def api(request, tmp_path_factory):
    """An httpx-compatible client on a fresh database with MUSICML_API_TOKEN set."""
    folder = tmp_path_factory.mktemp(f"api_{request.param}")
    params = _params_file(folder, export_rate_limit_per_minute=0, max_audio_mb=1)
    if request.param == "testclient":
        from fastapi.testclient import TestClient

        from musicml.genmeta.api import ServiceSettings, create_app
        from musicml.genmeta.db import Store

        store = Store(f"sqlite:///{folder / 'db.sqlite'}")
        settings = ServiceSettings(token=TOKEN, export_rate_limit_per_minute=0, max_audio_bytes=1024 * 1024,
                                   audio_dir=str(folder / "audio"))
        with TestClient(create_app(store, settings)) as client:
            yield client
        store.close()
        return
    if request.param == "server":
        url = f"sqlite:///{folder / 'db.sqlite'}"
    else:
        url = postgres_url()
        if url is None:
            pytest.skip("no PostgreSQL: set MUSICML_TEST_PG_URL or install Debian's postgresql")
    proc, base = start_server(url, folder, params=params, token=TOKEN)
    client = httpx.Client(base_url=base, timeout=120)
    client.server_info = (proc, url, folder, params)
    try:
        yield client
    finally:
        client.close()
        stop_server(client.server_info[0])  # the restart test replaces the process


def wait_analysed(api, gid: str, timeout: float = 300.0) -> dict:
    """Poll until the background analysis of ``gid`` has finished (or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        meta = api.get(f"{P}/{gid}").json()["metadata"]
        if (meta["analysisMetadata"] or {}).get("status") != "pending":
            return meta
        if time.monotonic() > deadline:
            raise AssertionError(f"{gid}: analysis still pending after {timeout} s")
        time.sleep(0.1)


def post(api, **fields) -> tuple[str, httpx.Response]:
    gid = fields.pop("generationId", None) or f"gen_{uuid.uuid4().hex[:10]}"
    return gid, api.post(P, json=record(gid, **fields), headers=AUTH)


def test_health(api):
    assert api.get("/health").json() == {"status": "ok", "database": "ok"}


def test_create_analyse_get(api, clips):
    gid, resp = post(api, audioUrl=str(clips / "house_a.wav"),
                     analysisMetadata={"vocalCharacteristics": {"present": False}})
    assert resp.status_code == 201 and resp.json()["analysis"] == "pending"
    meta = wait_analysed(api, gid)
    assert meta["generationId"] == gid and meta["provider"] == "suno" and meta["usedForTraining"] is False
    rhythm = meta["analysisMetadata"]["rhythmCharacteristics"]
    assert rhythm["rhythmConfidence"] > 0 and meta["duration"] == pytest.approx(2.5, abs=0.01)
    assert meta["analysisMetadata"]["vocalCharacteristics"] == {"present": False}  # kept, not invented
    assert len(meta["spectralFeatures"]["mfcc"]) == 13 and len(meta["audioEmbedding"]) > 20
    assert meta["qualityScore"] == pytest.approx(quality_score(meta))
    assert meta["format"] == "wav" and meta["createdAt"].endswith("Z")


def test_file_url_and_unreadable_audio(api, clips):
    gid, resp = post(api, audioUrl=(clips / "dnb.wav").as_uri())
    assert resp.status_code == 201
    assert "rhythmCharacteristics" in wait_analysed(api, gid)["analysisMetadata"]
    bad, resp = post(api, audioUrl=str(clips / "broken.wav"))
    meta = wait_analysed(api, bad)
    assert "unreadable audio" in meta["analysisMetadata"]["analysisError"] and meta["audioEmbedding"] is None
    missing, _ = post(api, audioUrl=str(clips / "nope.wav"))
    assert "not found" in wait_analysed(api, missing)["analysisMetadata"]["analysisError"]


def test_http_url_with_size_limit(api, clips):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                              cwd=clips, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        gid, _ = post(api, audioUrl=f"http://127.0.0.1:{port}/house_b.wav")
        meta = wait_analysed(api, gid)
        assert "rhythmCharacteristics" in meta["analysisMetadata"] and meta["audioStorageKey"]
        (clips / "big.wav").write_bytes(b"\0" * (1024 * 1024 + 10))  # over the 1 MB limit of these servers
        big, _ = post(api, audioUrl=f"http://127.0.0.1:{port}/big.wav")
        assert "byte limit" in wait_analysed(api, big)["analysisMetadata"]["analysisError"]
        gone, _ = post(api, audioUrl=f"http://127.0.0.1:{port}/missing.wav")
        assert "HTTP 404" in wait_analysed(api, gone)["analysisMetadata"]["analysisError"]
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.parametrize("change, field", [
    ({"audioUrl": None}, "audioUrl"), ({"provider": None}, "provider"), ({"duration": 0}, "duration"),
    ({"duration": -3}, "duration"), ({"duration": "long"}, "duration"), ({"userId": 5}, "userId"),
    ({"generationParams": {"bpm": "fast"}}, "generationParams.bpm"),
    ({"userFeedback": {"rating": 7}}, "userFeedback.rating"), ({"colour": "red"}, "colour"),
])
def test_bad_post_is_422_naming_the_field(api, change, field):
    body = record("gen_bad", **change)
    body = {k: v for k, v in body.items() if v is not None}
    resp = api.post(P, json=body, headers=AUTH)
    assert resp.status_code == 422
    assert resp.json()["error"].startswith(f"field '{field}':") and "\n" not in resp.json()["error"]


def test_duplicate_is_409_and_unknown_is_404(api, clips):
    gid, first = post(api, audioUrl=str(clips / "house_a.wav"))
    _, again = post(api, generationId=gid, audioUrl=str(clips / "house_a.wav"))
    assert first.status_code == 201 and again.status_code == 409 and gid in again.json()["error"]
    assert api.get(f"{P}/gen_unknown").status_code == 404
    assert api.put(f"{P}/gen_unknown/feedback", json={"liked": True}, headers=AUTH).status_code == 404
    assert api.get(f"{P}/similar/gen_unknown").status_code == 404


def test_feedback_recomputes_quality(api, clips):
    gid, _ = post(api, audioUrl=str(clips / "house_a.wav"))
    before = wait_analysed(api, gid)
    resp = api.put(f"{P}/{gid}/feedback", json={"liked": True, "rating": 5}, headers=AUTH)
    assert resp.status_code == 200
    after = api.get(f"{P}/{gid}").json()["metadata"]
    assert after["userFeedback"] == {"liked": True, "rating": 5}
    assert after["qualityScore"] == pytest.approx(quality_score(after)) and after["qualityScore"] > before["qualityScore"]
    # A later partial update keeps the earlier fields.
    api.put(f"{P}/{gid}/feedback", json={"used": True, "feedback": "Perfect beat!"}, headers=AUTH)
    final = api.get(f"{P}/{gid}").json()["metadata"]
    assert final["userFeedback"] == {"liked": True, "rating": 5, "used": True, "feedback": "Perfect beat!"}
    for bad in ({"rating": 0}, {"rating": 6}, {"rating": "5"}, {"liked": "yes"}, {"stars": 3}):
        resp = api.put(f"{P}/{gid}/feedback", json=bad, headers=AUTH)
        assert resp.status_code == 422, bad


def test_exports_filter_and_stream(api, clips):
    provider = f"prov_{uuid.uuid4().hex[:6]}"
    made = {}
    for name, genre, fb in (("a", "house", {"liked": True, "used": True, "rating": 5}), ("b", "house", None),
                            ("c", "dnb", {"liked": False, "rating": 1})):
        gid, _ = post(api, provider=provider, audioUrl=str(clips / "house_a.wav"),
                      generationParams={"genre": genre, "bpm": 124})
        wait_analysed(api, gid)
        if fb:
            api.put(f"{P}/{gid}/feedback", json=fb, headers=AUTH)
        made[name] = api.get(f"{P}/{gid}").json()["metadata"]

    def jsonl(**q):
        resp = api.get(f"{P}/export/jsonl", params={"provider": provider, **q}, headers=AUTH)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(x)["metadata"]["generationId"] for x in resp.text.splitlines()]

    ids = {k: v["generationId"] for k, v in made.items()}
    assert sorted(jsonl()) == sorted(ids.values())
    assert sorted(jsonl(genre="house")) == sorted([ids["a"], ids["b"]])
    assert jsonl(withFeedback="true", genre="house") == [ids["a"]]
    assert jsonl(withFeedback="false") == [ids["b"]]
    assert jsonl(minQualityScore=made["a"]["qualityScore"]) == [ids["a"]]
    assert jsonl(since="2999-01-01T00:00:00Z") == []
    # since is an instant: the same moment in another offset selects the same records.
    created = datetime.fromisoformat(made["a"]["createdAt"].replace("Z", "+00:00"))
    earlier = (created - timedelta(hours=1)).astimezone(timezone(timedelta(hours=5))).isoformat()
    later = (created + timedelta(hours=1)).astimezone(timezone(timedelta(hours=-5))).isoformat()
    assert ids["a"] in jsonl(since=earlier) and jsonl(since=later) == []
    row = json.loads(api.get(f"{P}/export/jsonl", params={"provider": provider, "withFeedback": "true",
                                                             "genre": "house"}, headers=AUTH).text)
    assert row["quality_score"] == made["a"]["qualityScore"] and row["rating"] == 5 and row["prompt"]
    resp = api.get(f"{P}/export/csv", params={"provider": provider, "genre": "dnb"}, headers=AUTH)
    table = list(csv.reader(io.StringIO(resp.text)))
    assert table[0] == ["generationId", "userPrompt", "aiEnhancedPrompt", "audioUrl", "duration", "genre", "bpm",
                        "rating", "used"]
    assert [r[0] for r in table[1:]] == [ids["c"]] and table[1][5:] == ["dnb", "124", "1", ""]
    assert api.get(f"{P}/export/csv", params={"minQualityScore": 2}, headers=AUTH).status_code == 422


def test_statistics_overview(api, clips):
    before = api.get(f"{P}/statistics/overview").json()["statistics"]
    gid, _ = post(api, provider="musicgen", audioUrl=str(clips / "dnb.wav"))
    wait_analysed(api, gid)
    api.put(f"{P}/{gid}/feedback", json={"rating": 4}, headers=AUTH)
    resp = api.get(f"{P}/statistics/overview").json()
    assert resp["success"] is True
    stats = resp["statistics"]
    assert set(stats) == {"totalGenerations", "byProvider", "withFeedback", "averageQualityScore", "usedForTraining"}
    assert stats["totalGenerations"] == before["totalGenerations"] + 1
    assert stats["byProvider"]["musicgen"] == before["byProvider"].get("musicgen", 0) + 1
    assert stats["withFeedback"] == before["withFeedback"] + 1
    assert 0 <= stats["averageQualityScore"] <= 1


def test_similar(api, clips):
    a, _ = post(api, audioUrl=str(clips / "house_a.wav"))
    b, _ = post(api, audioUrl=str(clips / "house_b.wav"))
    c, _ = post(api, audioUrl=str(clips / "dnb.wav"))
    for gid in (a, b, c):
        wait_analysed(api, gid)
    found = api.get(f"{P}/similar/{b}", params={"limit": 100}).json()["similar"]
    distances = {x["generationId"]: x["distance"] for x in found}
    assert b not in distances and distances[a] < distances[c]
    assert [x["distance"] for x in found] == sorted(x["distance"] for x in found)
    bad, _ = post(api, audioUrl=str(clips / "broken.wav"))
    wait_analysed(api, bad)
    assert api.get(f"{P}/similar/{bad}").status_code == 409


def test_auth(api, clips):
    body = record(f"gen_{uuid.uuid4().hex[:8]}", audioUrl=str(clips / "house_a.wav"))
    assert api.post(P, json=body).status_code == 401
    assert api.post(P, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert api.get(f"{P}/export/jsonl").status_code == 401
    assert api.get(f"{P}/export/csv", headers={"X-API-Token": TOKEN}).status_code == 200
    assert api.put(f"{P}/{body['generationId']}/feedback", json={"liked": True}).status_code == 401
    assert api.get(f"{P}/statistics/overview").status_code == 200  # reads stay open


def test_concurrent_posts_lose_nothing(api, clips):
    provider = f"burst_{uuid.uuid4().hex[:6]}"
    bodies = [record(f"gen_{provider}_{i:02d}", provider=provider, audioUrl=str(clips / "house_a.wav"))
              for i in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(lambda b: api.post(P, json=b, headers=AUTH).status_code, bodies))
    assert codes == [201] * 50
    for body in bodies:
        wait_analysed(api, body["generationId"], timeout=600)
    lines = api.get(f"{P}/export/jsonl", params={"provider": provider}, headers=AUTH).text.splitlines()
    assert sorted(json.loads(x)["metadata"]["generationId"] for x in lines) == sorted(b["generationId"] for b in bodies)


def test_data_survives_a_restart(api, clips):
    if not hasattr(api, "server_info"):
        pytest.skip("in-process client: restart is tested on the real servers")
    gid, _ = post(api, audioUrl=str(clips / "dnb.wav"))
    before = wait_analysed(api, gid)
    proc, url, folder, params = api.server_info
    stop_server(proc)
    proc, base = start_server(url, folder, params=params, token=TOKEN)
    api.server_info = (proc, url, folder, params)
    api.base_url = base
    assert api.get(f"{P}/{gid}").json()["metadata"] == before


def test_export_rate_limit(tmp_path):
    from fastapi.testclient import TestClient

    from musicml.genmeta.api import ServiceSettings, create_app
    from musicml.genmeta.db import Store

    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    app = create_app(store, ServiceSettings(export_rate_limit_per_minute=2, audio_dir=str(tmp_path / "audio")))
    with TestClient(app) as client:
        codes = [client.get(f"{P}/export/csv").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = client.get(f"{P}/export/jsonl")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert client.get(f"{P}/statistics/overview").status_code == 200  # only exports are limited
    store.close()


def test_rate_limiter_window():
    from musicml.genmeta.api import RateLimiter

    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert [limiter.retry_after("x") for _ in range(2)] == [0.0, 0.0]
    assert limiter.retry_after("x") == pytest.approx(60.0)
    assert limiter.retry_after("y") == 0.0
    now[0] = 60.0
    assert limiter.retry_after("x") == 0.0


def test_unreachable_database_is_one_line(tmp_path):
    port = free_port()  # nothing listens there
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.run([sys.executable, "-m", "musicml.cli", "serve", "--db",
                           f"postgresql+psycopg://u:pw@127.0.0.1:{port}/x", "--port", str(free_port())],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: database postgresql+psycopg://u:***@")
    assert "cannot connect" in proc.stderr and "pw" not in proc.stderr
