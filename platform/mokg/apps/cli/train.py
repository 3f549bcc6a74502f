"""`mokg train`: GLoM over the graph."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from mokg.apps.cli.options import given_options, refuse_without
from mokg.apps.cli.output import out, progress_bars, progress_factory
from mokg.config import get_settings


@click.command()
@click.option(
    "--aggregator",
    type=click.Choice(["mean", "attn1", "attn2"]),
    default="attn1",
    show_default=True,
    help="GLM aggregator of knowledge queries: Eq. 3 (mean), Eq. 6 (attn1), Eq. 7 (attn2).",
)
@click.option("--dim", type=click.IntRange(2, 1024), default=64, show_default=True, help="Embedding size.")
@click.option(
    "--epochs",
    type=click.IntRange(0),
    help="GLM epochs of Eq. 9 training (default 0: the GLM smooths the PM untrained, the best on validation).",
)
@click.option(
    "--pm-epochs",
    type=click.IntRange(1),
    help="PM epochs (default 30: the validation AP of 100 at 30% of the cost; "
    "docs/lookalike-evaluation.md, 'Training length'). "
    "--pm-epochs, --pm-negatives or --pm-shared-negatives turn the large-graph default off (unless "
    "--pm-large-graph is given too).",
)
@click.option(
    "--pm-negatives",
    type=click.IntRange(1),
    help="Corruptions per positive in the PM (default 8, self-adversarially weighted; 1 halves the PM's "
    "time at 100k users for lower validation AP).",
)
@click.option(
    "--pm-negative-power",
    type=click.FloatRange(0, 10),
    help="Draw each PM corruption in proportion to (degree + 1)^P within its type (default 0: uniformly). "
    "P = 1 led on the shared sets' few validation items but not on the larger sets of tasks built inside "
    "their reviews (docs/lookalike-evaluation.md, 'Stop 49').",
)
@click.option(
    "--pm-shared-negatives",
    is_flag=True,
    help="Batch negatives in the PM: positives share their corruptions in chunks of 64 (PyTorch-BigGraph). "
    "A PM epoch at 100k users took 3.2 s against 7.8 s; with --pm-negatives 16, validation AP +0.011 on "
    "Gift_Cards and -0.019 on All_Beauty (docs/lookalike-evaluation.md, 'Batch negatives').",
)
@click.option(
    "--pm-large-graph",
    type=click.IntRange(0),
    help="Training triples from which the PM defaults to --pm-shared-negatives --pm-negatives 16 "
    "--pm-epochs 50 (default 200000, about 30k users; 0: never). 100k users then train in about 5 minutes "
    "(README, 'Large graphs').",
)
@click.option("--layers", type=click.IntRange(1, 8), default=1, show_default=True, help="GLM layers L.")
@click.option(
    "--glm-share",
    type=click.FloatRange(0, 1),
    help="Share of the knowledge-query message in each GLM layer's input (default 0.5: Eq. 8's h + m; "
    "0 with untrained layers serves the PM). `mokg eval` tunes it in {0.25, 0.5, 0.75}.",
)
@click.option("--no-profiles", is_flag=True, help="Ablation: no LLM profiles (PM uses interactions only).")
@click.option(
    "--no-polarity", is_flag=True, help="Ablation: reviews are one REVIEWED relation, not LIKES/DISLIKES."
)
@click.option("--no-similarity", is_flag=True, help="Ablation: no user–user SIMILAR_TO triples.")
@click.option("--no-pretrain", is_flag=True, help="Ablation: GLM starts from random embeddings, not the PM.")
@click.option(
    "--skip",
    type=click.Choice(["polarity", "similarity", "profiles", "text-embeddings", "write-back"]),
    multiple=True,
    help="Skip a stage whose result is already on the graph (repeatable).",
)
@click.option("--seed", type=int, help="Random seed (default: MOKG_SEED).")
@click.option(
    "--tuned",
    type=click.Path(exists=True, path_type=Path),
    help="Train with the values `mokg eval` chose on its validation tasks for the GLoM variant of "
    "--aggregator (dim, PM and GLM learning rates, margin, epochs, layers, message share): its --out folder "
    "or eval.json. An option given here wins over the tuned value. The PM trains as the eval's did, "
    "without the large-graph PM.",
)
@click.option(
    "--choose-method",
    is_flag=True,
    help="Afterwards pick what to serve, by mean AP on lookalike tasks from the graph's reviews: the user "
    "vectors (GLM's, the PM's or LightGCN's, see --choose-models), the scoring method (centroid, max_seed, "
    "logreg) and, for centroid and logreg, the weight of the user-activity term. The tasks are dealt into "
    "--choose-folds folds, each scored by one more fit of every candidate without its held-out reviews. The "
    "choice is recorded for this model version: the default of `mokg expand` and the API.",
)
@click.option(
    "--choose-models",
    default="glom,pm",  # mokg.lookalike.evaluation.CHOOSE_MODELS
    show_default=True,
    help="--choose-method: the user vectors it may serve, comma-separated from glom, pm and lightgcn, each "
    "once; ties go to the earlier. lightgcn (`mokg eval`'s strongest baseline on the Amazon sets, at --dim) "
    "is not in the default: on Gift_Cards the choice took it in 5 of 5 splits and served 0.224 against 0.246 "
    "without it (bench/served.py, before the rule and its weight were chosen together). Give it where "
    "`mokg eval` shows LightGCN ahead on your data. It has no inductive fold-in: while it serves, streamed "
    "users get a vector only at the next train.",
)
@click.option(
    "--choose-min-buyers",
    type=click.IntRange(2),
    default=20,
    show_default=True,
    help="--choose-method: items with at least this many buyers become tasks (as `mokg eval --min-buyers`).",
)
@click.option(
    "--choose-folds",
    type=click.IntRange(1),
    help="--choose-method: folds of tasks, one more fit of each candidate model each; fewer is faster and "
    "chooses on less (default: 5, mokg.lookalike.evaluation.CHOOSE_FOLDS).",
)
@click.pass_context
def train(
    ctx: click.Context,
    aggregator: str,
    dim: int,
    epochs: int | None,
    pm_epochs: int | None,
    pm_negatives: int | None,
    pm_negative_power: float | None,
    pm_shared_negatives: bool,
    pm_large_graph: int | None,
    layers: int,
    glm_share: float | None,
    no_profiles: bool,
    no_polarity: bool,
    no_similarity: bool,
    no_pretrain: bool,
    skip: tuple[str, ...],
    seed: int | None,
    tuned: Path | None,
    choose_method: bool,
    choose_models: str,
    choose_min_buyers: int,
    choose_folds: int | None,
) -> None:
    """Train GLoM over the graph and write the embeddings back onto users and items.

    Stages, each writing its result to the graph: polarity (§3.3, REVIEWED.sentiment/like/polarity),
    user–user similarity (§3.4, SIMILAR_TO), LLM profiles (§3.2, needs the llm server of `mokg stack up`;
    cached, so a re-run regenerates nothing), profile text embeddings (§3.2.4), the pre-trained model
    (§3.5) and the graph learning model (§3.6–3.7), then write-back (`embedding`, `pm_embedding`,
    `embedding_version`, `embedding_at`) behind vector indexes. Prints a per-stage timing table.
    """
    from mokg.glom.data import TrainConfig
    from mokg.glom.pipeline import train as run_train
    from mokg.graph import Graph
    from mokg.lookalike.evaluation import CHOOSE_FOLDS, served_models, serving_method_chooser

    if not choose_method:
        refuse_without(
            ctx,
            "--choose-method",
            {"choose_models", "choose_min_buyers", "choose_folds"},
            "it sets how the served model is chosen",
        )
    if choose_method and "write-back" in skip:
        raise click.UsageError(
            "--choose-method goes without --skip write-back (the choice is recorded for the vectors written)"
        )
    try:
        models = served_models(choose_models)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--choose-models") from None
    options = {
        "aggregator": aggregator,
        "dim": dim,
        "layers": layers,
        "pm_epochs": pm_epochs,
        "pm_negatives": pm_negatives,
        "pm_negative_power": pm_negative_power,
        "pm_shared_negatives": pm_shared_negatives or None,  # a flag not given is no choice
        "pm_large_graph_triples": pm_large_graph,
        "glm_epochs": epochs,
        "glm_share": glm_share,
        "use_profiles": not no_profiles,
        "use_polarity": not no_polarity,
        "use_similarity": not no_similarity,
        "use_pretrain": not no_pretrain,
        "seed": seed,
    }
    if tuned is not None:
        options |= _tuned(ctx, tuned, aggregator)
    s = get_settings()
    cfg = TrainConfig.from_settings(s, **options)
    with Graph(s) as g, progress_bars() as progress:
        report = run_train(
            g,
            s,
            cfg,
            skip=skip,
            progress=progress_factory(progress),
            choose_method=serving_method_chooser(choose_min_buyers, choose_folds or CHOOSE_FOLDS, models)
            if choose_method
            else None,
        )
    table = Table("stage", "seconds", "result", title=f"mokg train: {report.version}")
    for row in report.table():
        table.add_row(*row)
    out.print(table)


# a tuned TrainConfig field whose option here has another name (the others: the same, or no option)
_OPTION_OF = {"glm_epochs": "epochs"}


def _tuned(ctx: click.Context, path: Path, aggregator: str) -> dict[str, object]:
    """--tuned: the eval's chosen values for this aggregator's GLoM variant, less those given as options."""
    from mokg.lookalike.evaluation import GLOM_VARIANTS
    from mokg.lookalike.tuning import tuned_params

    (model,) = (m for m, v in GLOM_VARIANTS.items() if v.get("aggregator") == aggregator)
    try:
        params = tuned_params(path, model)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--tuned") from None
    given = {p.name for p in given_options(ctx)}
    taken = {k: v for k, v in params.items() if _OPTION_OF.get(k, k) not in given}
    said = ", ".join(f"{k}={v}" for k, v in taken.items()) or "none: every one was given as an option"
    out.print(f"--tuned: {model}'s values from {path}: {said}")
    return taken
