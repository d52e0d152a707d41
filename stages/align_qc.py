"""Stage align_qc: each session file's offset against its reference by cross-correlation, gated."""

from pathlib import Path

import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.alignment import align_session, read_session
from musicml.errors import ConfigError, GateError


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `align`."),
    session: list[Path] = typer.Option(None, help="Session manifest(s) to check (default: `align.sessions`)."),
    metrics: Path = typer.Option("metrics/align_qc.json", help="Per-file offsets, worst offset and gate."),
) -> None:
    """Estimate every file's offset (ms) against its session's reference; the largest |offset| must stay
    within `align.max_abs_offset_ms` (the stage fails when `align.strict`). The report is written first."""
    cfg = section(load_yaml(params), "align")
    manifests = [str(s) for s in session] if session else list(cfg["sessions"] or [])
    if not manifests:
        raise ConfigError("align.sessions is empty: list at least one session manifest")
    reports = [align_session(read_session(m), max_lag_ms=cfg["max_lag_ms"], analysis_s=cfg["analysis_s"],
                             max_abs_offset_ms=cfg["max_abs_offset_ms"]) for m in manifests]
    worst = max(r["max_abs_offset_ms"] for r in reports)
    errors = [r["worst_error_ms"] for r in reports if r["worst_error_ms"] is not None]
    passed = all(r["passed"] for r in reports)
    write_json(metrics, {
        "max_abs_offset_ms": worst, "worst_error_ms": max(errors) if errors else None,
        "files": sum(len(r["files"]) for r in reports), "sessions": reports,
        "gates": {"max_abs_offset_ms": {"passed": passed, "value": worst, "threshold": cfg["max_abs_offset_ms"]}},
    })
    for r in reports:
        for f in r["files"]:
            known = "" if f["known_offset_ms"] is None \
                else f" (known {f['known_offset_ms']:+.3f}, error {f['error_ms']:.3f})"
            print(f"align_qc: {r['session_id']} {f['mic']}: {f['estimated_offset_ms']:+.3f} ms{known}")
    print(f"align_qc: max |offset| {worst:.3f} ms (gate {cfg['max_abs_offset_ms']} ms: {'pass' if passed else 'FAIL'})")
    if cfg["strict"] and not passed:
        raise GateError(f"alignment: max |offset| {worst:.3f} ms > {cfg['max_abs_offset_ms']} ms")


if __name__ == "__main__":
    stage(main)
