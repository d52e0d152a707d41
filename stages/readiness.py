"""Stage readiness: every release gate in one report (metrics/readiness.json) and the HTML release report."""

import re
from pathlib import Path

import typer

from musicml.atomic import write_json, write_text
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.errors import GateError
from musicml.release.gates import Gate, evaluate_gates, failed_summary, read_metrics
from musicml.release.report import render_html


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `readiness` (gates, strict)."),
    out: Path = typer.Option("metrics/readiness.json", help="{passed, gates: {name: {passed, value, threshold, ...}}}."),
    html: Path = typer.Option("metrics/report.html", help="Release report: readiness table, open-set, figures."),
    openset: Path = typer.Option("metrics/openset.json", help="Open-set figures for the report (optional)."),
    negatives: Path = typer.Option("metrics/hard_negatives.json", help="Hard-negative counts for the report (optional)."),
    figures: Path = typer.Option("metrics/interpret", help="Folder of SVG figures shown in the report (optional)."),
) -> None:
    """Check each gate of `readiness.gates` (metrics file, key path, op, threshold); `readiness.strict` fails on any."""
    cfg = section(load_yaml(params), "readiness")
    gates = [Gate.from_params(entry) for entry in cfg["gates"]]
    report = evaluate_gates(gates)
    write_json(out, report)
    # File names order the figures (ig_00_kick.svg); captions drop the ordering prefix.
    svgs = [{"title": re.sub(r"^ig_\d+_", "attribution: ", p.stem).replace("_", " "),
             "svg": p.read_text(encoding="utf-8")} for p in sorted(figures.glob("*.svg"))] if figures.is_dir() else []
    write_text(html, render_html(report, openset=read_metrics(openset) if openset.exists() else None,
                                 negatives=read_metrics(negatives) if negatives.exists() else None, figures=svgs))
    passed = sum(g["passed"] for g in report["gates"].values())
    print(f"readiness: {'PASS' if report['passed'] else 'FAIL'} ({passed}/{len(gates)} gates) -> {out}, {html}")
    if not report["passed"]:
        print(f"readiness: failed gates: {failed_summary(report)}")
        if cfg["strict"]:
            raise GateError(f"readiness gate failed: {failed_summary(report)}")


if __name__ == "__main__":
    stage(main)
