"""Stage router_validate: label consistency, balance, ambiguity flags, spot-check sample, gates."""

from pathlib import Path

import typer

from musicml.atomic import atomic_path, write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.router.examples import read_examples, write_examples
from musicml.router.paraphrase import LlmClient
from musicml.router.validation import check_gates, spot_check_sample, validate


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `router.shares`, `router.validate`, "
                                                    "`router.llm`."),
    data: Path = typer.Option("data/interim/router/augmented.jsonl", help="Examples to validate."),
    out: Path = typer.Option("data/interim/router/validated.jsonl", help="Examples kept, with review flags."),
    report_json: Path = typer.Option("metrics/router_validation.json", help="Report with `gating_results`."),
    spot_check: Path = typer.Option("metrics/router_spot_check.csv", help="Stratified sample for manual review."),
) -> None:
    """Exact conflicts are resolved (majority by confidence), near conflicts and low-confidence rows are flagged.

    The report is written before a failing gate stops the stage (`router.validate.strict`).
    """
    p = load_yaml(params)
    cfg = section(p, "router.validate")
    seed = int(section(p, "seed"))
    llm_cfg = section(p, "router.llm")
    llm = None
    if llm_cfg.get("label_check", False):
        client = LlmClient.from_params(llm_cfg)
        if client is not None:
            llm = {"client": client, "max_examples": int(llm_cfg["label_check_examples"]), "seed": seed,
                   "max_disagreement": float(llm_cfg["max_disagreement"])}
    gates = {k: cfg[k] for k in ("min_examples", "max_conflict_share", "max_near_conflict_share",
                                 "max_share_deviation")}
    clean, report = validate(read_examples(data), shares=section(p, "router.shares"),
                             near_threshold=float(cfg["near_threshold"]), ambiguous_below=float(cfg["ambiguous_below"]),
                             gates=gates, llm=llm)
    sample = spot_check_sample(clean, count=int(cfg["spot_check_count"]), share=float(cfg["spot_check_share"]),
                               seed=seed)
    report["spot_check_examples"] = len(sample)
    write_examples(clean, out)
    with atomic_path(spot_check) as tmp:
        sample.to_csv(tmp, index=False)
    write_json(report_json, report)
    print(f"router_validate: {report['examples']} kept, {report['dropped_conflicting']} dropped as conflicting, "
          f"{report['near_conflict_pairs']} near-conflict pairs, {len(sample)} rows to spot-check")
    if cfg["strict"]:
        check_gates(report)


if __name__ == "__main__":
    stage(main)
