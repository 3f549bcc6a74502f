"""`mokg eval`: the lookalike evaluation protocol."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from mokg.apps.cli.options import min_buyers_option, out_dir_option
from mokg.apps.cli.output import out, progress_bars, progress_factory
from mokg.config import get_settings


@click.command("eval")
@out_dir_option("Report folder (default: $MOKG_HOME/reports/<dataset>).")
@click.option(
    "--dataset", default="graph", show_default=True, help="Name used in the report title and folder."
)
@min_buyers_option
@click.option(
    "--seeds",
    type=click.IntRange(1, 20),
    default=5,
    show_default=True,
    help="Random seeds (splits); figures are mean ± std over them.",
)
@click.option("--no-ablations", is_flag=True, help="Skip the Table 3 ablations.")
@click.option(
    "--baselines",
    default="random,popularity,lr,cf_pearson,lightgcn,transe,graphsage,pinterest,metaheac",
    show_default=True,
    help="Comma-separated baselines to run.",
)
@click.option("--dim", type=click.IntRange(2, 1024), default=64, show_default=True)
@click.option(
    "--pm-epochs", type=click.IntRange(1), default=30, show_default=True, help="PM epochs of the defaults."
)
@click.option(
    "--epochs",
    type=click.IntRange(0),
    help="GLM epochs of Eq. 9 training (default 0: the GLM smooths the PM untrained, the best on validation).",
)
@click.option(
    "--tune-budget",
    type=click.IntRange(0),
    default=6,
    show_default=True,
    help="Configurations each learned model tries on the validation tasks (its defaults, then random "
    "points of its grid, the same number for every model); 0 keeps the defaults above.",
)
@click.option(
    "--tune-splits",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="Splits (the first seeds') each configuration is fitted on while tuning, its validation AP "
    "averaged over them: one fit's AP moves with its random initialisation alone.",
)
@click.option(
    "--tune-rule",
    type=click.Choice(["best", "one_se"]),  # mokg.lookalike.tuning.RULES, unimported: the CLI loads lazily
    default="best",
    show_default=True,
    help="When a validated choice (a tuned configuration, an activity weight) displaces its default "
    "(the defaults, weight 0): best on any lead; one_se only on a lead over one standard error of the "
    "per-task difference on the tasks it was chosen on.",
)
@click.option(
    "--tune-on",
    type=click.Choice(["validation", "inner"]),  # mokg.lookalike.evaluation.TUNE_ON and INNER_TASKS below
    default="validation",
    show_default=True,
    help="The tasks configurations are scored on: the validation tasks, or up to 60 tasks built inside "
    "each tuning split's training reviews (items that are no validation or test task, with at least "
    "--min-buyers/2 training buyers; no task's buyers, held out or seeds, are among their labels).",
)
@click.option(
    "--no-activity",
    is_flag=True,
    help="Rank by each model's own scores only: no user-activity term chosen on the validation tasks.",
)
@click.option(
    "--quick",
    is_flag=True,
    help="Smoke run: one seed, no ablations, no tuning (figures are not comparable with a full run).",
)
@click.option(
    "--fresh",
    is_flag=True,
    help="Start over. By default a run whose report folder holds the finished units of an interrupted run "
    "of the same configuration, on the same data and code, resumes from them (eval.checkpoint.jsonl).",
)
def eval_cmd(
    out_dir: Path | None,
    dataset: str,
    min_buyers: int,
    seeds: int,
    no_ablations: bool,
    baselines: str,
    dim: int,
    pm_epochs: int,
    epochs: int | None,
    tune_budget: int,
    tune_splits: int,
    tune_rule: str,
    tune_on: str,
    no_activity: bool,
    quick: bool,
    fresh: bool,
) -> None:
    """Evaluate lookalike expansion on the graph's reviews: GLoM against baselines (paper §4).

    For each random seed, items with at least --min-buyers buyers become tasks; their buyers split into
    seeds and held-out positives, with 1:10 sampled non-buyers as negatives. Held-out reviews are removed
    from what every model trains on. Each learned model first tries --tune-budget configurations on the
    validation tasks of the first --tune-splits seeds (the same budget for all; every seed keeps the first
    seed's partition of tasks, so no test task is ever tuned on; see --tune-rule and --tune-on). Every
    model's scores may then be blended with the candidates' activity (how many items they bought), by a
    weight chosen on the validation tasks (--no-activity: never). Writes report.md (Tables 2 and 3, the
    chosen hyperparameters, Figure 6), eval.json (every figure) and PNG plots, and prints the summary table.
    Each finished unit is kept in the report folder until the report is written, so an interrupted run
    (^C, a lost machine) resumes where it stopped when started again (--fresh: start over).
    """
    import torch

    from mokg.glom.data import TrainConfig
    from mokg.glom.stages import load_kg
    from mokg.graph import Graph
    from mokg.lookalike.checkpoint import Checkpoint, CheckpointBusy
    from mokg.lookalike.evaluation import (
        ACTIVITY_WEIGHTS,
        EvalConfig,
        evaluate_kg,
        fingerprint,
        main_models,
        table_header,
        table_rows,
        verdict,
        write_report,
    )

    s = get_settings()
    torch.set_num_threads(s.torch_threads)
    names = tuple(b.strip() for b in baselines.split(",") if b.strip())
    cfg = EvalConfig(
        min_buyers=min_buyers,
        seeds=tuple(range(1 if quick else seeds)),
        ablations=not (no_ablations or quick),
        baselines=names,
        # the PM as tuned and asked (--pm-epochs), on a graph of any size: no large-graph default
        train=TrainConfig.from_settings(
            s, dim=dim, pm_epochs=pm_epochs, glm_epochs=epochs, pm_large_graph_triples=0
        ),
        tune_budget=0 if quick else tune_budget,
        tune_splits=tune_splits,
        tune_rule=tune_rule,
        tune_on=tune_on,
        activity_weights=(0.0,) if no_activity else ACTIVITY_WEIGHTS,
    )
    with Graph(s) as g:
        kg = load_kg(g)
    if not len(kg.reviews):
        raise click.ClickException("the graph holds no reviews: run `mokg ingest` first")
    folder = out_dir or s.home / "reports" / dataset
    try:
        with Checkpoint(folder / "eval.checkpoint.jsonl", fingerprint(kg, cfg), fresh=fresh) as checkpoint:
            if checkpoint.discarded:
                out.print(
                    f"{checkpoint.path} was left by another configuration, data or code: starting afresh",
                    markup=False,
                )
            elif checkpoint.resumed:
                out.print(
                    f"resuming from {checkpoint.path}: {checkpoint.resumed} tuning trials and model runs "
                    "finished earlier",
                    markup=False,
                )
            with progress_bars() as progress:
                result = evaluate_kg(
                    kg, cfg, dataset=dataset, progress=progress_factory(progress), checkpoint=checkpoint
                )
            paths = write_report(result, folder)
            checkpoint.remove()
    except CheckpointBusy as busy:
        raise click.ClickException(str(busy)) from None
    table = Table(*table_header(result), title=f"lookalike evaluation: {dataset}")
    for row in table_rows(result, main_models(result)):
        table.add_row(*row)
    out.print(table)
    out.print(verdict(result))
    out.print("report: " + ", ".join(str(p) for p in paths.values()))
