"""The `mokg` command line. Each command is a thin shell over a library function."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from mokg.config import SettingsError, get_settings, settings_doc
from mokg.progress import Advance, ProgressFactory

console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


class MokgGroup(click.Group):
    """Turns the platform's own errors into one clear line and a non-zero exit instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from mokg.stack import StackError

        try:
            return super().invoke(ctx)
        except (SettingsError, StackError, FileNotFoundError) as e:
            console.print(f"[red]error:[/red] {e}")
            sys.exit(1)


@click.group(cls=MokgGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mokg")
def main() -> None:
    """MoKG: a marketing knowledge graph platform.

    One graph (ArcadeDB embedded, or Neo4j) holds the supply-side KG, the user–item polarity graph and
    the LLM-mined MoKG. Start with `mokg stack up`, `mokg schema apply` and `mokg ingest`. Every
    setting is an environment variable: `mokg settings` lists them.
    """
    # libraries (PyKEEN, torch_max_mem) log INFO chatter that buries our own summaries
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("torch_max_mem").setLevel(logging.ERROR)


@main.command()
def settings() -> None:
    """List every setting: environment variable, current value, meaning."""
    current = get_settings()
    table = Table("variable", "value", "meaning")
    for env, _default, doc in settings_doc():
        field_name = env.removeprefix("MOKG_").lower()
        value = str(getattr(current, field_name, ""))
        if "PASSWORD" in env or "API_KEY" in env:
            value = "***" if value not in ("", "none") else value
        table.add_row(env, value, doc)
    out.print(table)


# -- stack ------------------------------------------------------------------------------------------


@main.group()
def stack() -> None:
    """Start, stop and check the embedded servers (ArcadeDB, Valkey, llama.cpp) on loopback."""


_ONLY = click.option(
    "--only",
    type=click.Choice(["graph", "broker", "llm"]),
    multiple=True,
    help="Limit to these components (repeatable). Default: all.",
)


@stack.command("up")
@_ONLY
def stack_up(only: tuple[str, ...]) -> None:
    """Start the embedded servers (idempotent: running ones are left as they are).

    A component whose setting points elsewhere (MOKG_GRAPH_URI, MOKG_BROKER_URL, MOKG_LLM_BASE_URL) is
    not started: production uses Neo4j, Redis and vLLM from compose.yaml.
    """
    from mokg.stack import COMPONENTS, up

    s = get_settings()
    with console.status("starting the stack…"):
        for line in up(s, only or COMPONENTS):
            out.print(line)
    out.print(f"home: {s.home}   graph: {s.bolt_uri}   broker: redis://127.0.0.1:{s.valkey_port}")


@stack.command("down")
@_ONLY
def stack_down(only: tuple[str, ...]) -> None:
    """Stop the servers that `mokg stack up` started, and nothing else."""
    from mokg.stack import COMPONENTS, down

    for line in down(get_settings(), only or COMPONENTS):
        out.print(line)


@stack.command("status")
def stack_status_cmd() -> None:
    """Show each embedded server: running, healthy, port, pid. Exit status 1 if any is not healthy."""
    from mokg.stack import stack_status

    statuses = stack_status(get_settings())
    for st in statuses:
        out.print(st.line())
    if not statuses:
        out.print("no embedded servers are configured (all components point at external servers)")
    sys.exit(0 if all(st.healthy for st in statuses) else 1)


# -- schema -----------------------------------------------------------------------------------------


@main.group()
def schema() -> None:
    """The graph schema: constraints and indexes from cypher/schema."""


@schema.command("apply")
def schema_apply() -> None:
    """Create every constraint and index (idempotent: safe to run again)."""
    from mokg.graph import Graph
    from mokg.graph.schema import apply_schema

    with Graph() as g:
        names = apply_schema(g)
    out.print(f"schema: {len(names)} statements applied ({', '.join(n.split('/')[-1] for n in names)})")


# -- ingest -----------------------------------------------------------------------------------------

EXIT_REJECTS = 3


def _progress_factory(progress: Progress) -> ProgressFactory:
    def factory(label: str, total: int | None) -> Advance:
        task = progress.add_task(label, total=total)
        return lambda pos: progress.update(task, completed=pos)

    return factory


def _progress(in_bytes: bool = False) -> Progress:
    return Progress(
        TextColumn("{task.description:16}"),
        BarColumn(),
        DownloadColumn() if in_bytes else MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@main.command()
@click.option("--reviews", type=click.Path(path_type=Path), help="Reviews file (JSON Lines, plain or .gz).")
@click.option(
    "--meta", type=click.Path(path_type=Path), help="Item metadata file (JSON Lines, plain or .gz)."
)
@click.option(
    "--rejects",
    type=click.Path(path_type=Path),
    help="Where bad records go (default: $MOKG_HOME/rejects/<reviews or meta file>.rejects.jsonl).",
)
@click.option("--batch-size", type=click.IntRange(1), help="Rows per transaction (default: MOKG_BATCH_SIZE).")
def ingest(reviews: Path | None, meta: Path | None, rejects: Path | None, batch_size: int | None) -> None:
    """Stream Amazon reviews and item metadata into the graph.

    Reads the Amazon Reviews 2023 JSONL format and the 2018 / 2014 5-core JSON formats, plain or gzip,
    in constant memory. Idempotent: every write is a MERGE, so a second run changes nothing and a run
    that was interrupted is repaired by running it again. Bad records (malformed JSON, a missing key, a
    wrong type, a rating outside 1..5) go to the rejects file with their line number and reason; the good
    ones still land.

    Exit status: 0 clean, 3 finished with rejects, 1 a file is missing or corrupt.
    """
    from mokg.graph import Graph
    from mokg.ingest import InputFileError
    from mokg.ingest import ingest as run_ingest

    if reviews is None and meta is None:
        raise click.UsageError("give --reviews, --meta, or both")
    s = get_settings()
    stem = (reviews or meta or Path("input")).name.split(".")[0]
    rejects = rejects or s.home / "rejects" / f"{stem}.rejects.jsonl"
    try:
        with Graph(s) as g, _progress(in_bytes=True) as progress:
            report = run_ingest(
                g,
                reviews=reviews,
                meta=meta,
                rejects_path=rejects,
                batch_size=batch_size,
                progress=_progress_factory(progress),
            )
    except InputFileError as e:
        console.print(f"[red]error:[/red] {e}")
        sys.exit(1)
    out.print(f"ingest: {report.summary()}")
    if report.rejected:
        sys.exit(EXIT_REJECTS)


@main.command()
@click.option(
    "--users", "n_users", type=click.IntRange(1), required=True, help="Synthetic users to generate."
)
@click.option(
    "--items", "n_items", type=click.IntRange(5), required=True, help="Synthetic items to generate."
)
@click.option(
    "--from-reviews",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=Path("../shared/data/amazon/Gift_Cards/Gift_Cards_5.json.gz"),
    show_default=True,
    help="Real reviews file whose distributions are fitted.",
)
@click.option(
    "--from-meta",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("../shared/data/amazon/Gift_Cards/meta_Gift_Cards.json.gz"),
    show_default=True,
    help="Real metadata file (brands, category paths, link counts); pass '' when the set has none.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Output folder (default: $MOKG_HOME/synthetic).",
)
@click.option("--seed", type=int, help="Random seed (default: MOKG_SEED).")
def synth(
    n_users: int, n_items: int, from_reviews: Path, from_meta: Path, out_dir: Path | None, seed: int | None
) -> None:
    """Generate SYNTHETIC Amazon-format files of any size, fitted to a real set, for benchmarks.

    Item popularity, user activity, ratings, review text (sampled from real reviews), and the brand and
    category structure follow the real set. Every file is named SYNTHETIC_*, every record carries
    "synthetic": true, and ids start with SYN-. Quality claims use real data only.
    """
    from mokg.synth import synthesize

    s = get_settings()
    meta = from_meta if str(from_meta) not in ("", ".") else None
    if meta is not None and not meta.is_file():
        raise click.BadParameter(f"{meta}: no such file", param_hint="--from-meta")
    with Progress(
        TextColumn("synth"), TextColumn("{task.completed:,} reviews"), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("synth", total=None)
        report = synthesize(
            from_reviews,
            meta,
            out_dir or s.home / "synthetic",
            n_users=n_users,
            n_items=n_items,
            seed=s.seed if seed is None else seed,
            progress=lambda n: progress.update(task, completed=n),
        )
    out.print(
        f"synth: {report.n_users:,} users, {report.n_items:,} items, {report.n_reviews:,} reviews "
        f"in {report.seconds:.1f} s -> {report.reviews_path} and {report.meta_path}"
    )


@main.command()
def summary() -> None:
    """Show what is in the graph: nodes per label and relationships per type."""
    from mokg.graph import Graph

    with Graph() as g:
        nodes = g.query("analyst/node_counts")
        rels = g.query("analyst/relationship_counts")
    table = Table("kind", "name", "count")
    for r in nodes:
        table.add_row("node", str(r["label"]), f"{r['n']:,}")
    for r in rels:
        table.add_row("relationship", str(r["type"]), f"{r['n']:,}")
    out.print(table)


# -- train (GLoM) -----------------------------------------------------------------------------------


@main.command()
@click.option(
    "--aggregator",
    type=click.Choice(["mean", "attn1", "attn2"]),
    default="attn1",
    show_default=True,
    help="GLM aggregator of knowledge queries: Eq. 3 (mean), Eq. 6 (attn1), Eq. 7 (attn2).",
)
@click.option("--dim", type=click.IntRange(2, 1024), default=64, show_default=True, help="Embedding size.")
@click.option("--epochs", type=click.IntRange(1), default=50, show_default=True, help="GLM epochs.")
@click.option("--pm-epochs", type=click.IntRange(1), default=100, show_default=True, help="PM epochs.")
@click.option("--layers", type=click.IntRange(1, 8), default=2, show_default=True, help="GLM layers L.")
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
def train(
    aggregator: str,
    dim: int,
    epochs: int,
    pm_epochs: int,
    layers: int,
    no_profiles: bool,
    no_polarity: bool,
    no_similarity: bool,
    no_pretrain: bool,
    skip: tuple[str, ...],
    seed: int | None,
) -> None:
    """Train GLoM over the graph and write the embeddings back onto users and items.

    Stages, each writing its result to the graph: polarity (§3.3, REVIEWED.sentiment/like/polarity),
    user–user similarity (§3.4, SIMILAR_TO), LLM profiles (§3.2, needs the llm server of `mokg stack up`;
    cached, so a re-run regenerates nothing), profile text embeddings (§3.2.4), the pre-trained model
    (§3.5) and the graph learning model (§3.6–3.7), then write-back (`embedding`, `pm_embedding`,
    `embedding_version`, `embedding_at`) behind vector indexes. Prints a per-stage timing table.
    """
    from mokg.glom.pipeline import TrainConfig
    from mokg.glom.pipeline import train as run_train
    from mokg.graph import Graph

    s = get_settings()
    cfg = TrainConfig(
        aggregator=aggregator,  # type: ignore[arg-type]
        dim=dim,
        layers=layers,
        pm_epochs=pm_epochs,
        glm_epochs=epochs,
        use_profiles=not no_profiles,
        use_polarity=not no_polarity,
        use_similarity=not no_similarity,
        use_pretrain=not no_pretrain,
        t_sim=s.sim_threshold,
        min_co_rated=s.sim_min_co_rated,
        seed=s.seed if seed is None else seed,
    )
    with Graph(s) as g, _progress() as progress:
        report = run_train(g, s, cfg, skip=skip, progress=_progress_factory(progress))
    table = Table("stage", "seconds", "result", title=f"mokg train: {report.version}")
    for row in report.table():
        table.add_row(*row)
    out.print(table)


# -- eval (lookalike protocol) -----------------------------------------------------------------------


@main.command("eval")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Report folder (default: $MOKG_HOME/reports/<dataset>).",
)
@click.option(
    "--dataset", default="graph", show_default=True, help="Name used in the report title and folder."
)
@click.option(
    "--min-buyers",
    type=click.IntRange(2),
    default=20,
    show_default=True,
    help="Items with at least this many buyers become tasks.",
)
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
    default=",".join(("random", "popularity", "lr", "cf_pearson", "lightgcn", "transe")),
    show_default=True,
    help="Comma-separated baselines to run.",
)
@click.option("--dim", type=click.IntRange(2, 1024), default=64, show_default=True)
@click.option("--pm-epochs", type=click.IntRange(1), default=100, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=50, show_default=True, help="GLM epochs.")
def eval_cmd(
    out_dir: Path | None,
    dataset: str,
    min_buyers: int,
    seeds: int,
    no_ablations: bool,
    baselines: str,
    dim: int,
    pm_epochs: int,
    epochs: int,
) -> None:
    """Evaluate lookalike expansion on the graph's reviews: GLoM against baselines (paper §4).

    For each random seed, items with at least --min-buyers buyers become tasks; their buyers split into
    seeds and held-out positives, with 1:10 sampled non-buyers as negatives. Held-out reviews are removed
    from what every model trains on. Writes report.md (Tables 2 and 3, Figure 6), eval.json (every
    figure) and PNG plots, and prints the summary table.
    """
    import torch

    from mokg.glom.pipeline import TrainConfig, load_kg
    from mokg.graph import Graph
    from mokg.lookalike.evaluation import (
        EvalConfig,
        evaluate_kg,
        main_models,
        table_rows,
        verdict,
        write_report,
    )

    s = get_settings()
    torch.set_num_threads(s.torch_threads)
    names = tuple(b.strip() for b in baselines.split(",") if b.strip())
    cfg = EvalConfig(
        min_buyers=min_buyers,
        seeds=tuple(range(seeds)),
        ablations=not no_ablations,
        baselines=names,
        train=TrainConfig(
            dim=dim,
            pm_epochs=pm_epochs,
            glm_epochs=epochs,
            t_sim=s.sim_threshold,
            min_co_rated=s.sim_min_co_rated,
        ),
    )
    with Graph(s) as g:
        kg = load_kg(g)
    if not len(kg.reviews):
        raise click.ClickException("the graph holds no reviews: run `mokg ingest` first")
    with _progress() as progress:
        result = evaluate_kg(kg, cfg, dataset=dataset, progress=_progress_factory(progress))
    paths = write_report(result, out_dir or s.home / "reports" / dataset)
    table = Table(
        "model",
        "scoring",
        "PR-AUC",
        "P@K",
        "R@K",
        "P@T",
        "R@T",
        "fit s",
        title=f"lookalike evaluation: {dataset}",
    )
    for row in table_rows(result, main_models(result)):
        table.add_row(*row)
    out.print(table)
    out.print(verdict(result))
    out.print("report: " + ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()
