"""The release report: an HTML page (readiness, open-set, hard negatives, figures) and the
Markdown that CML posts on a pull request (metrics diff, plots diff, readiness table)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from musicml.drums.health import _environment as template_environment


def render_html(readiness: Mapping[str, Any], *, openset: Mapping[str, Any] | None = None,
                negatives: Mapping[str, Any] | None = None,
                figures: Sequence[Mapping[str, str]] = ()) -> str:
    """One self-contained page; ``figures`` are ``{"title", "svg"}`` with inline SVG markup."""
    template = template_environment().get_template("report.html.j2")
    return template.render(readiness=readiness, openset=openset, negatives=negatives, figures=list(figures))


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def readiness_markdown(readiness: Mapping[str, Any]) -> str:
    """The readiness report as a Markdown table (for the pull-request comment)."""
    lines = [f"**Readiness: {'PASS' if readiness['passed'] else 'FAIL'}**", "",
             "| gate | status | value | condition | source |", "|---|---|---|---|---|"]
    for name, g in readiness["gates"].items():
        lines.append(f"| {name} | {'✅ pass' if g['passed'] else '❌ fail'} | {_cell(g['value'])} | "
                     f"`{g['key']} {g['op']} {_cell(g['threshold'])}` | {g['source']} |")
    return "\n".join(lines) + "\n"


def compose_markdown(*, title: str, metrics_diff_md: str, params_diff_md: str, plot_images: Sequence[str],
                     plots_html: str | None, readiness: Mapping[str, Any] | None, guards: str | None) -> str:
    """report.md: headline, readiness table, regression guards, metrics and params diffs, plot images.

    ``plot_images`` are paths relative to report.md (``cml comment create
    --publish`` uploads them); ``plots_html`` names the full interactive diff.
    """
    parts = [f"## {title}", ""]
    if readiness is not None:
        parts += ["### Readiness", "", readiness_markdown(readiness)]
    if guards:  # the verdict line shows, the per-check table folds away
        head, _, rest = guards.strip().partition("\n")
        parts += ["### Regression guards", "", f"<details><summary>{head}</summary>", "", "```", rest, "```", "",
                  "</details>", ""]
    parts += ["### Metrics", "", metrics_diff_md.strip() or "No metric changed.", ""]
    parts += ["### Params", "", params_diff_md.strip() or "No param changed.", ""]
    parts += ["### Plots", ""]
    parts += [f"![{img}]({img})" for img in plot_images] or ["No plot images rendered."]
    if plots_html:
        parts += ["", f"The interactive plots diff is `{plots_html}` (in the job's artifacts)."]
    return "\n".join(parts) + "\n"


def _dvc(*args: str, cwd: str = ".") -> str:
    """Run ``dvc ARGS`` (the one beside this Python first); a failure is an :class:`InputError`."""
    import subprocess

    from musicml.errors import InputError
    from musicml.release.tools import tool

    proc = subprocess.run([tool("dvc"), *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise InputError("dvc", f"`dvc {' '.join(args)}` failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
    return proc.stdout


def plot_images(plots_json: Mapping[str, Any], folder: "os.PathLike | str", *, converter: str | None) -> list[str]:
    """Save each vega-lite spec of ``dvc plots diff --json`` in FOLDER and render it to SVG with ``converter``.

    Returns the paths of the images there are: SVGs rendered here (none
    without a converter, e.g. vega-lite's ``vl2svg``) and image plots that DVC
    copied itself (their ``url``).
    """
    import json
    import re
    import subprocess
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images: list[str] = []
    for plot_id, renders in sorted(plots_json.get("data", {}).items()):
        for i, render in enumerate(renders):
            if render.get("type") == "image" and render.get("url"):
                images.append(str(render["url"]))
                continue
            if render.get("type") != "vega" or "content" not in render:
                continue
            stem = re.sub(r"[^A-Za-z0-9._-]+", "_", plot_id).strip("_") + (f"_{i}" if i else "")
            spec = folder / f"{stem}.vl.json"
            spec.write_text(json.dumps(render["content"], sort_keys=True))
            if converter:
                proc = subprocess.run([converter, str(spec)], capture_output=True, text=True)
                if proc.returncode == 0 and proc.stdout.lstrip().startswith("<svg"):
                    (folder / f"{stem}.svg").write_text(proc.stdout)
                    images.append(str(folder / f"{stem}.svg"))
    return images


def build_report(*, base: str, out: "os.PathLike | str", plots_dir: "os.PathLike | str",
                 readiness_path: "os.PathLike | str" = "metrics/readiness.json",
                 guards_path: "os.PathLike | str | None" = None, title: str = "This change",
                 cwd: str = ".", converter: str | None = "auto") -> str:
    """Write report.md for ``base`` (a git ref) and return its text.

    Runs ``dvc metrics diff``, ``dvc params diff`` and ``dvc plots diff`` against
    ``base``; the plots diff goes to ``plots_dir`` (``index.html`` plus one
    vega-lite spec per plot, rendered to SVG when ``converter`` — default
    ``vl2svg`` when on PATH — is available).
    """
    import json
    import os
    import shutil
    from pathlib import Path

    from musicml.atomic import write_text
    from musicml.release.gates import read_metrics

    if converter == "auto":
        converter = shutil.which("vl2svg")
    plots_dir = Path(plots_dir)
    plots_dir.parent.mkdir(parents=True, exist_ok=True)  # dvc writes the folder itself, not its parents
    metrics_md = _dvc("metrics", "diff", base, "--md", "--precision", "4", cwd=cwd)
    params_md = _dvc("params", "diff", base, "--md", cwd=cwd)
    _dvc("plots", "diff", base, "--out", str(plots_dir), cwd=cwd)
    plots = json.loads(_dvc("plots", "diff", base, "--json", cwd=cwd) or "{}")
    out_dir = Path(out).resolve().parent
    # report.md links images relative to itself (`cml comment create --publish` uploads them).
    images = [os.path.relpath(Path(img).resolve(), out_dir)
              for img in plot_images(plots, plots_dir / "images", converter=converter)]
    readiness = read_metrics(readiness_path) if Path(readiness_path).exists() else None
    guards = Path(guards_path).read_text(encoding="utf-8") if guards_path and Path(guards_path).exists() else None
    text = compose_markdown(title=title, metrics_diff_md=metrics_md, params_diff_md=params_md, plot_images=images,
                            plots_html=str(plots_dir / "index.html"), readiness=readiness, guards=guards)
    write_text(out, text)
    return text
