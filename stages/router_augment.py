"""Stage router_augment: paraphrases of examples stratified per category (rule-based or LLM)."""

from pathlib import Path

import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.router.examples import read_examples, write_examples
from musicml.router.paraphrase import LlmClient, RuleSet, augment


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `router.augment`, `router.llm`."),
    data: Path = typer.Option("data/interim/router/mixed.jsonl", help="Examples to paraphrase."),
    rules: Path = typer.Option("configs/router_paraphrase.yaml", help="Rule-based paraphraser data."),
    out: Path = typer.Option("data/interim/router/augmented.jsonl", help="Examples plus paraphrases."),
    summary: Path = typer.Option("metrics/router_augment.json", help="Paraphrases per category and rule."),
) -> None:
    """`router.augment.per_category` paraphrases per category; labels kept.

    With `router.llm.enabled` an OpenAI-compatible endpoint paraphrases (answers
    cached by hash); any failed call falls back to the rule-based paraphrase.
    """
    p = load_yaml(params)
    cfg = section(p, "router.augment")
    client = LlmClient.from_params(section(p, "router.llm"))
    df, stats = augment(read_examples(data), RuleSet.load(rules), per_category=int(cfg["per_category"]),
                        seed=int(section(p, "seed")), min_ops=int(cfg["min_ops"]), max_ops=int(cfg["max_ops"]),
                        client=client)
    write_examples(df, out)
    write_json(summary, stats)
    print(f"router_augment: {stats['paraphrases']} paraphrases ({stats['llm_used']} by LLM) -> {out}")


if __name__ == "__main__":
    stage(main)
