"""Options that several commands share: what changes the mined triples, which sources a batch takes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click


def mining_options(fn: click.decorators.FC) -> click.decorators.FC:
    """Options shared by `pair run`, `pair eval` and `worker --beat`: what changes the mined triples."""
    options = [
        click.option("--n-samples", type=click.IntRange(1), help="Samples per prompt (default 3)."),
        click.option("--temperature", type=click.FloatRange(0), help="Sampling temperature (default 0.8)."),
        click.option(
            "--max-tokens",
            type=click.IntRange(8),
            help="Tokens per answer (default 96; 256 for LightPAIR's one answer a source).",
        ),
        click.option("--max-targets", type=click.IntRange(1), help="Targets asked per prompt (default 5)."),
        click.option("--max-relations", type=click.IntRange(0), help="Cap on selected relations (0: none)."),
        click.option(
            "--threshold", type=click.FloatRange(0, 1), help="Aggregation threshold (default 0.55)."
        ),
        click.option("--no-scorer", is_flag=True, help="Aggregate without the plausibility scorer."),
        click.option(
            "--no-relation-filter",
            is_flag=True,
            help="Expand every relation of R_s, none chosen by the model: PAIR skips its selection prompt; "
            "LightPAIR keeps its one prompt and takes every relation's list (the -Rf ablation).",
        ),
        click.option(
            "--relation", "relations", multiple=True, help="Restrict R_s to these relation ids (repeatable)."
        ),
        click.option(
            "--miner",
            type=click.Choice(["pair", "lightpair"]),
            help="pair (default): a selection prompt, then progressive prompts per relation, x n samples. "
            "lightpair: the distilled adapter, one greedy prompt a source answered with its relations and "
            "their targets (the LLM server must serve it; see `mokg pair lightpair-train`).",
        ),
        click.option(
            "--adapter", help="With --miner lightpair: the adapter version (default: the newest trained)."
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


MINING_FIELDS = {
    "n_samples": "n_samples",
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "max_targets": "max_targets",
    "max_relations": "max_relations",
    "threshold": "agg_threshold",
    "miner": "miner",
    "adapter": "adapter",
}


def mining_changes(options: dict[str, object]) -> dict[str, object]:
    """MiningConfig fields from the given mining options (unset ones keep their defaults)."""
    changes = {MINING_FIELDS[k]: v for k, v in options.items() if k in MINING_FIELDS and v is not None}
    if options.get("no_scorer"):
        changes["use_scorer"] = False
    if options.get("no_relation_filter"):
        changes["relation_filter"] = False
    if options.get("relations"):
        changes["relations"] = tuple(options["relations"])  # type: ignore[arg-type]
    return changes


def batch_options(
    *, when: str, default_types: str, redo_after_days: float
) -> Callable[[click.decorators.FC], click.decorators.FC]:
    """Options shared by `pair run` and `worker --beat`: which sources a batch takes, and how often."""

    def doc(text: str) -> str:
        return when + text if when else text[:1].upper() + text[1:]

    options = [
        click.option(
            "--interval",
            type=click.FloatRange(1),
            default=300.0,
            show_default=True,
            help=doc("seconds between batches."),
        ),
        click.option(
            "--limit", type=click.IntRange(1), default=100, show_default=True, help=doc("sources per batch.")
        ),
        click.option(
            "--type",
            "types",
            type=click.Choice(["Item", "Category", "Store"]),
            multiple=True,
            help=doc(f"source types (repeatable; default {default_types})."),
        ),
        click.option(
            "--redo-after-days",
            type=click.FloatRange(0),
            default=redo_after_days,
            show_default=True,
            help=doc("re-mine sources expanded longer ago than this (0: never)."),
        ),
    ]

    def decorate(fn: click.decorators.FC) -> click.decorators.FC:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def out_dir_option(help: str) -> Callable[[click.decorators.FC], click.decorators.FC]:
    """``--out DIR``, the folder a command writes its files to (the parameter ``out_dir``)."""
    return click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), help=help)


# the `mokg eval` protocol's task threshold (lookalike.protocol.build_split), one default for every command
min_buyers_option = click.option(
    "--min-buyers",
    type=click.IntRange(2),
    default=20,
    show_default=True,
    help="Items with at least this many buyers become lookalike tasks (the `mokg eval` protocol).",
)


def given_options(ctx: click.Context) -> list[click.Parameter]:
    """The command's options that were given (on the command line or from the environment), not defaulted."""
    from click.core import ParameterSource

    return [p for p in ctx.command.params if ctx.get_parameter_source(str(p.name)) != ParameterSource.DEFAULT]


def refuse_without(ctx: click.Context, flag: str, names: set[str], why: str) -> None:
    """A usage error for the first option of ``names`` given without ``flag``: an option that only means
    something with it would otherwise do nothing, silently."""
    for param in given_options(ctx):
        if param.name in names:
            raise click.UsageError(f"{param.opts[0]} goes with {flag} ({why})")
