"""S3 round trip of the default data: `dvc push` to a local SeaweedFS, then `dvc fetch` into an empty cache.

"The default data" is every output that this checkout's dvc.lock and .dvc files
name (the state of a `make repro`), read from this checkout's DVC cache. The
store runs in a temp folder; the push and the fetch run in a scratch copy of
the repository's tracked files whose `.dvc/config.local` points the `s3`
remote at the store, so this checkout's config and cache are only read.
Needs the venv (`make setup`) and a reproduced cache (`make repro`).

    python benchmarks/s3_roundtrip.py [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from musicml.remote import apply_local_settings, local_settings  # noqa: E402
from musicml.seaweed import SeaweedStore  # noqa: E402

DVC = str(Path(sys.executable).parent / "dvc")


def run(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def remote_objects(store: SeaweedStore) -> tuple[int, int]:
    """(objects, bytes) under the bucket's dvc/ prefix."""
    client, count, size, token = store.client(attempts=3), 0, 0, None
    while True:
        kwargs = {"Bucket": store.settings.bucket, "Prefix": "dvc/", **({"ContinuationToken": token} if token else {})}
        page = client.list_objects_v2(**kwargs)
        count += len(page.get("Contents", []))
        size += sum(item["Size"] for item in page.get("Contents", []))
        if not page.get("IsTruncated"):
            return count, size
        token = page["NextContinuationToken"]


def tree_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=4 * (os.cpu_count() or 1),
                        help="dvc push/fetch --jobs (DVC's default: 4 x cores)")
    args = parser.parse_args()
    cache = subprocess.run([DVC, "cache", "dir"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="musicml-s3bench-"))
    scratch = work / "repo"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, scratch / rel)
    subprocess.run(["git", "init", "-q"], cwd=scratch, check=True)
    store = SeaweedStore(work / "store").start()
    try:
        s = store.settings
        apply_local_settings(local_settings(endpoint=store.endpoint, bucket=s.bucket, access_key=s.access_key,
                                            secret_key=s.secret_key), scratch)
        run([DVC, "cache", "dir", "--local", cache], scratch)  # push reads this checkout's cache
        push_s = run([DVC, "push", "-r", "s3", "-j", str(args.jobs)], scratch)
        pushed, pushed_bytes = remote_objects(store)

        empty = work / "cache"
        run([DVC, "cache", "dir", "--local", str(empty)], scratch)
        fetch_s = run([DVC, "fetch", "-r", "s3", "-j", str(args.jobs)], scratch)
        fetched, fetched_bytes = tree_size(empty / "files")
        _, stored_bytes = tree_size(work / "store" / "data")
    finally:
        store.stop()
        shutil.rmtree(work, ignore_errors=True)
    mb = 1024 * 1024
    print(f"S3 round trip, local SeaweedFS, {args.jobs} jobs, {os.cpu_count()} cores")
    print(f"push:  {pushed} objects, {pushed_bytes / mb:.1f} MiB in {push_s:.1f} s ({pushed_bytes / mb / push_s:.1f} MiB/s)")
    print(f"fetch: {fetched} objects, {fetched_bytes / mb:.1f} MiB in {fetch_s:.1f} s "
          f"({fetched_bytes / mb / fetch_s:.1f} MiB/s) into an empty cache")
    print(f"store on disk: {stored_bytes / mb:.1f} MiB")
    if (fetched, fetched_bytes) != (pushed, pushed_bytes):
        sys.exit(f"round trip mismatch: pushed {pushed} objects / {pushed_bytes} B, fetched {fetched} / {fetched_bytes} B")


if __name__ == "__main__":
    main()
