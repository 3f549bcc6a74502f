"""`mokg pair`: PAIR mining runs, their state, their evaluation and the plausibility scorer."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from mokg.apps.cli.options import batch_options, mining_changes, mining_options, out_dir_option
from mokg.apps.cli.output import console, out
from mokg.config import get_settings


@click.group()
def pair() -> None:
    """PAIR: LLM mining of marketing triples (MoKG) by Celery workers, its state and its evaluation."""


def _ensure_scorer(max_triples: int) -> None:
    """Train a scorer from the graph first if there is none yet."""
    from mokg.pair.training import latest_version, scorer_root, train_scorer

    s = get_settings()
    if latest_version(scorer_root(s.home)):
        return
    console.print(f"no PAIR scorer yet: training one on up to {max_triples:,} SupKG triples")
    with console.status("training the plausibility scorer…"):
        train_scorer(s, max_triples=max_triples)


def _check_served(adapter: str) -> None:
    """A one-line error when the LLM server does not serve this LightPAIR adapter."""
    from mokg.llm.adapters import AdapterNotServed, served_adapter

    try:
        served_adapter(get_settings(), adapter)
    except AdapterNotServed as e:
        raise click.ClickException(str(e)) from e


@pair.command("run")
@batch_options(when="", default_types="Item", redo_after_days=0.0)
@click.option(
    "--key", "keys", multiple=True, help="Mine exactly these sources, e.g. Item:B001GXRQW0 (repeatable)."
)
@click.option("--continuous", is_flag=True, help="Keep enqueuing a batch every --interval seconds.")
@click.option(
    "--max-batches",
    type=click.IntRange(1),
    help="With --continuous: stop after this many batches (default: run until interrupted).",
)
@click.option(
    "--stale-after",
    type=click.FloatRange(1),
    default=7200.0,
    show_default=True,
    help="Seconds after which a pending/running source counts as lost and is enqueued again.",
)
@click.option("--inline", is_flag=True, help="Mine in this process instead of enqueuing (no workers needed).")
@click.option("--wait", "wait_s", type=click.FloatRange(0), help="Wait up to this many seconds for the run.")
@click.option(
    "--scorer-triples",
    type=click.IntRange(2),
    default=3000,
    show_default=True,
    help="SupKG triples for the scorer when none is trained yet.",
)
@mining_options
def pair_run(
    limit: int,
    types: tuple[str, ...],
    keys: tuple[str, ...],
    continuous: bool,
    interval: float,
    max_batches: int | None,
    redo_after_days: float,
    stale_after: float,
    inline: bool,
    wait_s: float | None,
    scorer_triples: int,
    **mining: object,
) -> None:
    """Choose sources that need mining, record a run, and enqueue one `mine_entity` task per source.

    Sources: those never expanded, failed ones that fewer than 3 runs failed since they last finished, those
    done before --redo-after-days, and pending/running ones older than --stale-after (their message was lost). --key names sources
    explicitly (a new run re-mines them; the LLM cache and MERGE keep that cheap and duplicate-free).
    """
    from mokg.graph import Graph
    from mokg.pair.runs import default_config, run_batches, wait_for_run
    from mokg.pair.runtime import Runtime
    from mokg.pair.store import SourceRef

    s = get_settings()
    changes = mining_changes(mining)
    if changes.get("use_scorer", True):
        _ensure_scorer(scorer_triples)
    try:
        config = default_config(s, **changes)
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    if config.miner == "lightpair":  # fail here, not in every task, when the server lacks the adapter
        _check_served(config.adapter)
    with Graph(s) as g:
        runtime = Runtime(s, graph=g) if inline else None  # one per process: its pools outlive a batch
        plans = run_batches(
            g,
            config,
            keys=[SourceRef.parse(k) for k in keys],
            continuous=continuous,
            max_batches=max_batches,
            interval_s=interval,
            types=types or ("Item",),
            limit=limit,
            redo_after_days=redo_after_days,
            stale_after_s=stale_after,
        )
        for plan in plans:
            miner = f"lightpair {config.adapter}" if config.miner == "lightpair" else "pair"
            out.print(
                f"pair run {plan.run_id}: {len(plan.sources)} sources, miner {miner}, "
                f"scorer {config.scorer_version or 'none'}"
            )
            if runtime is not None:
                for ref in plan.sources:
                    outcome = runtime.mine(ref, plan.run_id, config, worker="inline")
                    out.print(f"  {ref}: {outcome.status}, {outcome.triples} triples")
                continue
            from mokg.apps.workers.tasks import enqueue

            enqueue(plan)
            if wait_s:
                counts = wait_for_run(g, plan.run_id, timeout_s=wait_s)
                out.print(f"pair run {plan.run_id}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@pair.command("status")
@click.option("--runs", type=click.IntRange(1), default=5, show_default=True, help="Recent runs to show.")
def pair_status(runs: int) -> None:
    """Sources per type and status, recent runs, failures, and mined triples per relation."""
    from mokg.graph import Graph
    from mokg.pair.store import STATUSES, status

    with Graph() as g:
        st = status(g, runs=runs)
    table = Table("type", *STATUSES)
    for kind, counts in st.by_type().items():
        table.add_row(kind, *(f"{counts[x]:,}" for x in STATUSES))
    out.print(table)
    if st.runs:
        table = Table()
        # the run id starts with its UTC start time: no separate column
        for column in ("run", "types", "enqueued", "pending", "running", "done", "failed"):
            table.add_column(column, no_wrap=column == "run")
        for r in st.runs:
            c = st.by_run(r.run)
            table.add_row(
                r.run,
                ",".join(r.types),
                str(r.enqueued),
                *(str(c[x]) for x in ("pending", "running", "done", "failed")),
            )
        out.print(table)
    if st.relations:
        table = Table("relation", "triples", "targets")
        for relation, n, targets in st.relations:
            table.add_row(relation, f"{n:,}", f"{targets:,}")
        out.print(table)
    for f in st.failures[:20]:
        out.print(
            f"failed {f.type}:{f.id} (run {f.run}, attempt {f.attempts}, failed runs {f.failures}, {f.at}): "
            f"{f.error}"
        )


@pair.command("eval")
@click.option("--seeds", type=click.IntRange(1), default=10, show_default=True, help="Campaign/seed items.")
@click.option(
    "--holdout",
    type=click.FloatRange(0, 0.9),
    default=0.3,
    show_default=True,
    help="Share of item-item pairs hidden from κ_S (the ALSO_BOUGHT accuracy proxy).",
)
@click.option(
    "--variant",
    "variants",
    type=click.Choice(["full", "no_aggregation", "no_progressive", "no_relation_filter", "lightpair"]),
    multiple=True,
    help="Rows (repeatable; default the four PAIR ablations, and lightpair when --adapter is given).",
)
@click.option(
    "--fresh",
    is_flag=True,
    help="Bypass the LLM cache, so that seeds/min times the server (Table II); replies are not cached.",
)
@out_dir_option("Report folder (default: $MOKG_HOME/reports).")
@click.option("--scorer-triples", type=click.IntRange(2), default=3000, show_default=True)
@click.option(
    "--judge-facts",
    type=click.IntRange(0),
    default=100,
    show_default=True,
    help="SupKG facts (and a corruption of each) that calibrate the LLM judge of the kept triples; 0: no judge.",
)
@mining_options
def pair_eval(
    seeds: int,
    holdout: float,
    variants: tuple[str, ...],
    fresh: bool,
    out_dir: Path | None,
    scorer_triples: int,
    judge_facts: int,
    **mining: object,
) -> None:
    """Mine seed items dry (nothing is written) under each variant and report AEE, Novelty, ILAD, the
    ALSO_BOUGHT recovery, scorer-plausibility and LLM-judge proxies (the judge calibrated on SupKG facts
    against corruptions), seeds per minute and LLM tokens per seed, the
    candidates the aggregation and scorer filtered, and a Table-IV-style audience coverage. The lightpair row
    mines with the adapter (--adapter, default the newest trained) against full PAIR (Table II), with
    LightPAIR's one-pass settings (n = 1, temperature 0, 256 tokens) whatever the sampling options say; its
    seeds then leave out every source the adapter's distillation data read. Writes pair-eval-<time>.md, .json
    and .png."""
    from mokg.graph import Graph
    from mokg.pair.evaluation import PAIR_VARIANTS, EvalConfig, evaluate, write_report
    from mokg.pair.lightpair import lightpair_root, teacher_sources
    from mokg.pair.runs import default_config
    from mokg.pair.runtime import Runtime

    s = get_settings()
    changes = mining_changes(mining)
    if changes.pop("miner", None):
        raise click.UsageError("--miner does not apply to `pair eval`: choose rows with --variant lightpair")
    adapter = str(changes.pop("adapter", "") or "")
    chosen = variants or (PAIR_VARIANTS + (("lightpair",) if adapter else ()))
    exclude: tuple[str, ...] | None = ()
    if "lightpair" in chosen:
        try:  # the adapter the lightpair row uses: --adapter, else the newest; the server must serve it
            adapter = default_config(s, miner="lightpair", adapter=adapter).adapter
            taught = teacher_sources(lightpair_root(s.home) / adapter)
            exclude = None if taught is None else tuple(sorted(taught))
        except ValueError as e:
            raise click.UsageError(str(e)) from e
        _check_served(adapter)
    if changes.get("use_scorer", True):
        _ensure_scorer(scorer_triples)
    config = EvalConfig(
        seeds=seeds,
        holdout_share=holdout,
        variants=chosen,
        mining=default_config(s, **changes),
        adapter=adapter,
        judge_facts=judge_facts,
        exclude=exclude,
    )
    with Graph(s) as g:
        rt = Runtime(s, graph=g, llm_cache=not fresh)
        with console.status("evaluating PAIR…"):
            report = evaluate(rt, config, progress=lambda msg: console.print(msg))
    md, js, png = write_report(report, out_dir or s.home / "reports")
    out.print(report.markdown())
    out.print(f"report: {md}, {js} and {png}")


@pair.command("distill")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for train.jsonl, val.jsonl and manifest.json (created; existing files are replaced).",
)
@click.option(
    "--val-share",
    type=click.FloatRange(0, 1),
    default=0.2,
    show_default=True,
    help="Share of source entities (not records) in the validation split, by a stable hash of the key.",
)
@click.option("--run", "run_id", default="", help="Only this run's sources and triples (default: every run).")
def pair_distill(out_dir: Path, val_share: float, run_id: str) -> None:
    """Export PAIR's kept triples as chat-format JSONL for LightPAIR (distillation data).

    One record per source with kept triples: the one-pass prompt a LightPAIR miner sends (source, κ_S facts,
    the candidate relations R_s its teacher run mined over) and, as the answer, the relations with kept
    triples and their target names ({"relations": [{"relation", "targets"}]}), with provenance per target
    (run, model, votes, plausibility, score). Sources are those with pair_status 'done'; those LightPAIR
    finished are left out (a student never learns from itself). The split into train and validation is by
    source entity. Done sources without kept triples are listed in the manifest.
    """
    from mokg.graph import Graph
    from mokg.pair.distill import export

    with Graph() as g:
        m = export(g, out_dir, val_share=val_share, run_id=run_id)
    c = m["counts"]
    out.print(
        f"distill: {c['records']} records (train {c['train']}, val {c['val']}), {c['targets']} kept targets; "
        f"{c['sources_without_triples']} done sources without kept triples, {c['skipped']} skipped, "
        f"{c['sources_by_student']} sources and {c['triples_by_student']} triples mined by LightPAIR left out; "
        f"manifest {out_dir / 'manifest.json'}"
    )


@pair.command("train-scorer")
@click.option(
    "--max-triples",
    type=click.IntRange(2),
    default=3000,
    show_default=True,
    help="SupKG triples sampled as positives.",
)
@click.option("--epochs", type=click.IntRange(1), help="Training epochs (default 20).")
def pair_train_scorer(max_triples: int, epochs: int | None) -> None:
    """Train the KG-BERT-style plausibility scorer on SupKG triples; save a new versioned artifact."""
    from dataclasses import replace

    from mokg.pair.scorer import ScorerConfig
    from mokg.pair.training import train_scorer

    s = get_settings()
    config = ScorerConfig(seed=s.seed)
    config = replace(config, epochs=epochs) if epochs else config
    with console.status("training the plausibility scorer…"):
        scorer = train_scorer(s, max_triples=max_triples, config=config)
    st = scorer.manifest.stats
    out.print(
        f"scorer {scorer.manifest.version}: {st['n_positive']:,} positives, {st['n_negative']:,} negatives, "
        f"validation AUC {st['val_auc'] or float('nan'):.3f}, accuracy {st['val_accuracy'] or float('nan'):.3f}"
    )


@pair.command("lightpair-train")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    required=True,
    help="Folder written by `mokg pair distill` (train.jsonl, val.jsonl, manifest.json).",
)
@click.option(
    "--epochs", type=click.IntRange(1), default=1, show_default=True, help="Passes over train.jsonl."
)
@click.option(
    "--max-steps",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Stop after this many optimizer steps (0: the epochs decide).",
)
@click.option(
    "--lr",
    type=click.FloatRange(0, min_open=True),
    default=2e-4,
    show_default=True,
    help="AdamW learning rate.",
)
@click.option("--batch-size", type=click.IntRange(1), default=4, show_default=True, help="Records per step.")
@click.option(
    "--max-length",
    type=click.IntRange(8),
    default=1024,
    show_default=True,
    help="Tokens per record (prompt + answer); longer records are cut at the end (counted in lightpair.json).",
)
@click.option("--rank", "r", type=click.IntRange(1), default=8, show_default=True, help="LoRA rank r.")
@click.option("--alpha", type=click.IntRange(1), default=16, show_default=True, help="LoRA alpha.")
def pair_lightpair_train(
    data_dir: Path,
    epochs: int,
    max_steps: int,
    lr: float,
    batch_size: int,
    max_length: int,
    r: int,
    alpha: int,
) -> None:
    """Train LightPAIR: a LoRA adapter on the student (the embedded server's SmolLM2 GGUF) from distillation data.

    The loss is on the assistant's answer only. Runs on MOKG_DEVICE (CUDA when torch sees one, else the CPU).
    Saves $MOKG_HOME/artifacts/lightpair/<version>/ (the PEFT adapter and lightpair.json: config, base model
    and its SHA-256, the data's hash, record counts, validation loss before and after, seconds, device);
    the version is a hash of config, data and base. The first run converts the GGUF once (about a minute).
    """
    from mokg.apps.cli.output import progress_bars, progress_factory
    from mokg.pair.lightpair import LightPairConfig, train_lightpair

    s = get_settings()
    config = LightPairConfig(
        epochs=epochs,
        max_steps=max_steps,
        lr=lr,
        batch_size=batch_size,
        max_length=max_length,
        r=r,
        alpha=alpha,
        seed=s.seed,
    )
    try:
        with progress_bars() as bars:
            result = train_lightpair(s, data_dir, config=config, progress=progress_factory(bars))
    except ValueError as e:  # data of another format, edited files, nothing to learn from: one line
        raise click.UsageError(str(e)) from e
    i = result.info

    def loss(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    out.print(
        f"lightpair {result.version}: val loss {loss(result.val_loss_before)} → {loss(result.val_loss_after)} "
        f"({i['data']['train_records']} train / {i['data']['val_records']} val records, {i['steps']} steps, "
        f"{i['seconds']:.1f} s on {i['device']}, of which training {i['train_seconds']:.1f} s); adapter {result.path}"
    )
