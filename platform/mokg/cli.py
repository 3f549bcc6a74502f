"""The `mokg` command line. Each command is a thin shell over a library function."""

from __future__ import annotations

import datetime as dt
import logging
import sys
import warnings
from collections.abc import Callable
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
# piped or captured output has no terminal width: 120 columns rather than rich's 80, which cut table headers
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)


class MokgGroup(click.Group):
    """Turns the platform's own errors into one clear line and a non-zero exit instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from mokg.stack import StackError

        try:
            return super().invoke(ctx)
        except (SettingsError, StackError, FileNotFoundError) as e:
            console.print(f"[red]error:[/red] {e}")
            sys.exit(1)
        except Exception as e:
            message = expected_fault(e)
            if message is None:
                raise
            console.print(f"[red]error:[/red] {message}")
            sys.exit(1)


def expected_fault(e: Exception) -> str | None:
    """One line that says what to do, for the faults a user can cause or meet; None for a bug."""
    import neo4j.exceptions
    import requests

    s = get_settings()
    rerun = "then re-run (ingestion and training are idempotent)"
    if isinstance(e, neo4j.exceptions.AuthError):
        return f"the graph server at {s.bolt_uri} refused user {s.graph_user!r}: check MOKG_GRAPH_USER and MOKG_GRAPH_PASSWORD"
    if isinstance(e, neo4j.exceptions.ServiceUnavailable | neo4j.exceptions.SessionExpired):
        return (
            f"lost the graph server at {s.bolt_uri} ({type(e).__name__}): start it (`mokg stack up`), {rerun}"
        )
    if isinstance(e, neo4j.exceptions.ClientError) and "DatabaseNotFound" in (e.code or ""):
        return (
            f"graph database {s.graph_database!r} does not exist: create it with `mokg stack up` "
            "(embedded ArcadeDB) or on your server, or set MOKG_GRAPH_DATABASE"
        )
    if isinstance(e, neo4j.exceptions.TransientError):
        return f"the graph server is busy ({e.code}): {rerun}"
    if isinstance(e, requests.ConnectionError):
        return f"a server did not answer ({e.request.url if e.request else 'unknown address'}): is it up? (`mokg stack status`)"
    if isinstance(e, IsADirectoryError | PermissionError | NotADirectoryError):
        return f"{e.filename}: {e.strerror}"
    return None


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
    logging.getLogger("pykeen").setLevel(logging.WARNING)
    # the driver logs each retry of a lost connection; the one-line error after the last one is what counts
    logging.getLogger("neo4j").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")


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
    help="Where bad records go (default: $MOKG_HOME/rejects/<reviews or meta file>.<UTC time>.rejects.jsonl, "
    "one per run; written only when a record is rejected).",
)
@click.option("--batch-size", type=click.IntRange(1), help="Rows per transaction (default: MOKG_BATCH_SIZE).")
def ingest(reviews: Path | None, meta: Path | None, rejects: Path | None, batch_size: int | None) -> None:
    """Stream Amazon reviews and item metadata into the graph.

    Reads the Amazon Reviews 2023 JSONL format and the 2018 / 2014 5-core JSON formats, plain or gzip,
    in constant memory. Idempotent: every write is a MERGE, so a second run changes nothing and a run
    that was interrupted is repaired by running it again. Bad records (malformed JSON, a missing key, a
    wrong type, a rating outside 1..5) go to the rejects file with their line number and reason; the good
    ones still land.

    Exit status: 0 clean, 3 finished with rejects, 1 a file is missing, empty, a directory or corrupt,
    or the graph server is unreachable (the message says what to do).
    """
    from mokg.graph import Graph
    from mokg.ingest import InputFileError
    from mokg.ingest import ingest as run_ingest

    if reviews is None and meta is None:
        raise click.UsageError("give --reviews, --meta, or both")
    s = get_settings()
    stem = (reviews or meta or Path("input")).name.split(".")[0]
    # one file per run, so a clean re-run never sits beside an earlier run's rejects
    run = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    rejects = rejects or s.home / "rejects" / f"{stem}.{run}.rejects.jsonl"
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
@click.option("--layers", type=click.IntRange(1, 8), default=1, show_default=True, help="GLM layers L.")
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
    "--choose-method",
    is_flag=True,
    help="Afterwards pick the serving scoring method (centroid, max_seed, logreg) by validation AP on "
    "lookalike tasks from the graph's reviews (one more PM+GLM fit without the validation tasks' held-out "
    "reviews) and record it for this model version: the default of `mokg expand` and the API.",
)
@click.option(
    "--choose-min-buyers",
    type=click.IntRange(2),
    default=20,
    show_default=True,
    help="--choose-method: items with at least this many buyers become tasks (as `mokg eval --min-buyers`).",
)
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
    choose_method: bool,
    choose_min_buyers: int,
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
        sim_top_k=s.sim_top_k,
        seed=s.seed if seed is None else seed,
    )
    with Graph(s) as g, _progress() as progress:
        report = run_train(
            g,
            s,
            cfg,
            skip=skip,
            progress=_progress_factory(progress),
            choose_method=choose_method,
            choose_min_buyers=choose_min_buyers,
        )
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
    default="random,popularity,lr,cf_pearson,lightgcn,transe,graphsage,pinterest,metaheac",
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
            sim_top_k=s.sim_top_k,
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


# -- lookalike expansion, web service and API keys (issues 4 and 6) -------------------------------------


def _read_ids(path: Path) -> list[str]:
    """User ids from a file: JSON Lines or CSV with a `user_id` field, else one id per line."""
    import csv
    import json

    text = path.read_text()
    if path.suffix == ".jsonl":
        return [str(json.loads(line)["user_id"]) for line in text.splitlines() if line.strip()]
    if path.suffix == ".csv":
        return [row["user_id"] for row in csv.DictReader(text.splitlines()) if row.get("user_id")]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _param_value(raw: str) -> object:
    import json

    try:  # numbers, booleans and null as JSON; anything else is a string
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, int | float | bool) or value is None else raw


@main.command()
@click.option(
    "--seeds",
    "seeds_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Seed user ids: one per line, or a .csv/.jsonl with a user_id field.",
)
@click.option("--item", help="A campaign item (ASIN): its buyers are the seeds.")
@click.option("--query", "query_name", help="A named seed query: cypher/lookalike/seeds_<NAME>.cypher.")
@click.option(
    "--param", "params", multiple=True, metavar="NAME=VALUE", help="A parameter of --query (repeatable)."
)
@click.option("-k", "k", type=int, help="At most k users (default 100 when no --threshold).")
@click.option("--threshold", type=float, help="Only users whose score (a cosine) is at least this.")
@click.option(
    "--method",
    type=click.Choice(["centroid", "knn_vote", "max_seed", "logreg"]),
    help="centroid: one index query; knn_vote: per-seed neighbours vote; max_seed: the paper's rule; "
    "logreg: a classifier of the seeds against sampled users, then one index query with its weights. "
    "Default: the method `mokg train --choose-method` recorded for the model, else centroid.",
)
@click.option(
    "--exclude",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="File of user ids to leave out.",
)
@click.option("--category", help="Only users who reviewed items in this category (path or leaf name).")
@click.option("--min-reviews", type=click.IntRange(1), help="Only users with at least this many reviews.")
@click.option("--explain", is_flag=True, help="Add the graph evidence for each user (shared items, ...).")
@click.option(
    "--out", "out_file", type=click.Path(path_type=Path, dir_okay=False), help="Write .csv or .jsonl."
)
def expand(
    seeds_file: Path | None,
    item: str | None,
    query_name: str | None,
    params: tuple[str, ...],
    k: int | None,
    threshold: float | None,
    method: str | None,
    exclude: Path | None,
    category: str | None,
    min_reviews: int | None,
    explain: bool,
    out_file: Path | None,
) -> None:
    """Expand seed users into a lookalike audience from the user embeddings on the graph.

    Seeds come from exactly one of --seeds, --item or --query. Seeds and --exclude users are never
    returned; seed ids not in the graph are reported. Prints a table, or writes --out as CSV or JSON Lines.
    """
    import dataclasses
    import json

    from mokg.graph import Graph
    from mokg.lookalike.audience import (
        AudienceError,
        AudienceRequest,
        EmbeddingsUnavailable,
        Filters,
        Seeds,
        expand_audience,
    )

    if sum(x is not None for x in (seeds_file, item, query_name)) != 1:
        raise click.UsageError("give exactly one of --seeds, --item or --query")
    if params and query_name is None:
        raise click.UsageError("--param goes with --query")
    if out_file is not None and out_file.suffix not in (".csv", ".jsonl"):
        raise click.BadParameter("must end in .csv or .jsonl", param_hint="--out")
    pairs = [p.partition("=") for p in params]
    if any(not sep or not name for name, sep, _ in pairs):
        raise click.BadParameter("expected NAME=VALUE", param_hint="--param")
    try:
        req = AudienceRequest(
            seeds=Seeds(
                user_ids=tuple(_read_ids(seeds_file)) if seeds_file else (),
                item=item,
                query=query_name,
                params={name: _param_value(value) for name, _, value in pairs},
            ),
            k=100 if k is None and threshold is None else k,
            threshold=threshold,
            method=method,  # type: ignore[arg-type]
            exclude=tuple(_read_ids(exclude)) if exclude else (),
            filters=Filters(category=category, min_reviews=min_reviews),
            explain=explain,
        )
        with Graph() as g:
            audience = expand_audience(g, req)
    except (AudienceError, EmbeddingsUnavailable) as e:
        raise click.ClickException(str(e)) from e
    st = audience.stats
    console.print(
        f"expand: {st.n_returned} users from {st.n_seeds_found}/{st.n_seeds} seeds ({st.method}: "
        f"{st.method_source}, "
        f"model {audience.model_version}); unknown seeds: {', '.join(st.unknown_seed_ids) or 'none'}"
        + (
            f"; without embedding: {', '.join(st.seeds_without_embedding)}"
            if st.seeds_without_embedding
            else ""
        )
    )
    rows = [
        {"rank": m.rank, "user_id": m.user_id, "score": m.score}
        | ({"explanation": dataclasses.asdict(m.explanation) if m.explanation else None} if explain else {})
        for m in audience.users
    ]
    if out_file is None:
        table = Table("rank", "user_id", "score", *(["why"] if explain else []))
        for m in audience.users:
            why = [m.explanation.summary() if m.explanation else ""] if explain else []
            table.add_row(str(m.rank), m.user_id, f"{m.score:.4f}", *why)
        out.print(table)
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with out_file.open("w", newline="") as f:
        if out_file.suffix == ".jsonl":
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        else:
            import csv

            writer = csv.writer(f)
            writer.writerow(["rank", "user_id", "score", *(["explanation"] if explain else [])])
            for r in rows:
                extra = [json.dumps(r["explanation"], ensure_ascii=False)] if explain else []
                writer.writerow([r["rank"], r["user_id"], r["score"], *extra])
    console.print(f"expand: wrote {len(rows)} users to {out_file}")


@main.command()
@click.option(
    "--dev", is_flag=True, help="Flask's development server (auto-reload, one process); never in production."
)
@click.option("--host", help="Bind address (default: MOKG_WEB_HOST, loopback).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: MOKG_WEB_PORT).")
@click.option(
    "--workers",
    type=click.IntRange(1),
    help="gunicorn worker processes (default: the core count, at least 2).",
)
@click.option("--threads", type=click.IntRange(1), help="Threads per gunicorn worker (default 8).")
def serve(dev: bool, host: str | None, port: int | None, workers: int | None, threads: int | None) -> None:
    """Serve the lookup API, the analyst Cypher endpoint and the analyst page.

    Production: gunicorn (web/gunicorn_conf.py) with threaded workers on MOKG_WEB_HOST:MOKG_WEB_PORT
    (127.0.0.1:8080 by default). Create a key first: `mokg keys create --scope lookup`.
    """
    import os
    import shutil

    s = get_settings()
    host, port = host or s.web_host, port or s.web_port
    if dev:
        from web.app import create_app

        create_app(s).run(host=host, port=port, debug=True, use_reloader=True)
        return
    # every worker writes its Prometheus samples here; /metrics sums them (stale files are from a past run)
    prom = s.home / "run" / "prometheus"
    shutil.rmtree(prom, ignore_errors=True)
    prom.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(prom)
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:web.gunicorn_conf",
        "--bind",
        f"{host}:{port}",
    ]
    argv += ["--workers", str(workers)] if workers else []
    argv += ["--threads", str(threads)] if threads else []
    console.print(f"serve: gunicorn on http://{host}:{port}/ (OpenAPI at /openapi.json)")
    os.execv(sys.executable, argv)


@main.group()
def keys() -> None:
    """API keys of the web service (stored hashed in the graph; scopes `lookup` and `analyst`)."""


@keys.command("create")
@click.option(
    "--scope",
    "scopes",
    type=click.Choice(["lookup", "analyst"]),
    multiple=True,
    required=True,
    help="lookup: /v1/lookalike, users, items, entities; analyst: /v1/cypher (repeatable).",
)
@click.option("--name", default="", help="Who or what the key is for.")
def keys_create(scopes: tuple[str, ...], name: str) -> None:
    """Create a key and print its token once (only a hash is stored)."""
    from mokg.apikeys import create_key
    from mokg.graph import Graph

    with Graph() as g:
        new = create_key(g, scopes, name=name)
    console.print(
        f"key {new.key.id} ({', '.join(new.key.scopes)}): the token below is shown once, store it now"
    )
    out.print(new.token)


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id (servers honour it within their 30 s key cache)."""
    from mokg.apikeys import ApiKeyError, revoke_key
    from mokg.graph import Graph

    try:
        with Graph() as g:
            revoke_key(g, key_id)
    except ApiKeyError as e:
        raise click.ClickException(str(e)) from e
    out.print(f"revoked {key_id}")


@keys.command("list")
def keys_list() -> None:
    """List keys: id, scopes, name, created, revoked (never the tokens)."""
    from mokg.apikeys import list_keys
    from mokg.graph import Graph

    with Graph() as g:
        rows = list_keys(g)
    table = Table("id", "scopes", "name", "created", "revoked")
    for k in rows:
        table.add_row(k.id, ",".join(k.scopes), k.name, k.created_at, "yes" if k.revoked else "")
    out.print(table)


# -- PAIR mining workers (issue 5) ------------------------------------------------------------------


@main.group()
def pair() -> None:
    """PAIR: LLM mining of marketing triples (MoKG) by Celery workers, its state and its evaluation."""


def _mining_options(fn: click.decorators.FC) -> click.decorators.FC:
    """Options shared by `pair run`, `pair eval` and `worker --beat`: what changes the mined triples."""
    options = [
        click.option("--n-samples", type=click.IntRange(1), help="Samples per prompt (default 3)."),
        click.option("--temperature", type=click.FloatRange(0), help="Sampling temperature (default 0.8)."),
        click.option("--max-tokens", type=click.IntRange(8), help="Tokens per answer (default 96)."),
        click.option("--max-targets", type=click.IntRange(1), help="Targets asked per prompt (default 5)."),
        click.option("--max-relations", type=click.IntRange(0), help="Cap on selected relations (0: none)."),
        click.option(
            "--threshold", type=click.FloatRange(0, 1), help="Aggregation threshold (default 0.55)."
        ),
        click.option("--no-scorer", is_flag=True, help="Aggregate without the plausibility scorer."),
        click.option(
            "--relation", "relations", multiple=True, help="Restrict R_s to these relation ids (repeatable)."
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


_MINING_OPTIONS = {
    "n_samples": "n_samples",
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "max_targets": "max_targets",
    "max_relations": "max_relations",
    "threshold": "agg_threshold",
}


def _mining_changes(options: dict[str, object]) -> dict[str, object]:
    """MiningConfig fields from the given mining options (unset ones keep their defaults)."""
    changes = {_MINING_OPTIONS[k]: v for k, v in options.items() if k in _MINING_OPTIONS and v is not None}
    if options.get("no_scorer"):
        changes["use_scorer"] = False
    if options.get("relations"):
        changes["relations"] = tuple(options["relations"])  # type: ignore[arg-type]
    return changes


def _batch_options(
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


# after the mining options: it reuses them for the continuous mode's mining configuration
@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--concurrency", "-c", type=click.IntRange(1), default=1, show_default=True, help="Worker processes."
)
@click.option(
    "--pool",
    type=click.Choice(["solo", "prefork", "threads"]),
    help="Execution pool (default: solo for one process, prefork for more).",
)
@click.option(
    "--beat",
    is_flag=True,
    help="Also run the continuous-mode schedule (one worker only), set by the options that follow.",
)
@click.option("--loglevel", default="info", show_default=True)
@click.option(
    "--visibility-timeout",
    type=click.FloatRange(1),
    help="Seconds before an unacknowledged message is redelivered (default 3600).",
)
@_batch_options(when="With --beat: ", default_types="all", redo_after_days=30.0)
@_mining_options
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def worker(
    ctx: click.Context,
    concurrency: int,
    pool: str | None,
    beat: bool,
    loglevel: str,
    visibility_timeout: float | None,
    interval: float,
    limit: int,
    types: tuple[str, ...],
    redo_after_days: float,
    celery_args: tuple[str, ...],
    **mining: object,
) -> None:
    """Start a Celery worker for the PAIR tasks (`celery -A workers.app worker` with these options).

    With --beat the worker also runs the continuous mode: every --interval seconds it enqueues a batch of up
    to --limit sources of the --type(s) that were never expanded, failed, or were expanded more than
    --redo-after-days ago, mined with the mining options (--n-samples, --relation, --no-scorer, ... as in
    `mokg pair run`). These options go with --beat only; they reach the worker as MOKG_PAIR_BEAT (JSON).

    Extra arguments go to Celery unchanged. The process becomes the Celery worker (exec), so signals reach
    it directly.
    """
    import json
    import os

    from click.core import ParameterSource

    if not beat:
        beat_only = {"interval", "limit", "types", "redo_after_days", *mining}
        for param in ctx.command.params:
            if param.name in beat_only and ctx.get_parameter_source(param.name) != ParameterSource.DEFAULT:
                raise click.UsageError(f"{param.opts[0]} goes with --beat (it sets the continuous mode)")
    else:
        from mokg.pair.runs import BeatSchedule
        from mokg.pair.store import SOURCE_TYPES

        try:
            schedule = BeatSchedule(
                interval_s=interval,
                limit=limit,
                types=types or SOURCE_TYPES,
                redo_after_days=redo_after_days,
                config=_mining_changes(mining),
            )
        except ValueError as e:
            raise click.UsageError(str(e)) from e
        os.environ["MOKG_PAIR_BEAT"] = schedule.to_json()  # the exec'd worker's settings read it

    argv = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", f"--concurrency={concurrency}"]
    argv += [f"--pool={pool or ('solo' if concurrency == 1 else 'prefork')}", f"--loglevel={loglevel}"]
    argv += ["--beat"] if beat else []
    argv += list(celery_args)
    if visibility_timeout is not None:
        from workers.app import transport_options

        # Celery's command-line configuration (after `--`) overrides the app's setting
        argv += ["--", f"broker.transport_options=(json){json.dumps(transport_options(visibility_timeout))}"]
    sys.stdout.flush()
    os.execv(sys.executable, argv)


def _ensure_scorer(max_triples: int) -> str:
    """The newest scorer artifact, trained from the graph first if there is none."""
    from mokg.graph import Graph
    from mokg.llm import TextEmbedder
    from mokg.pair.training import latest_version, scorer_root, train_from_graph

    s = get_settings()
    version = latest_version(scorer_root(s.home))
    if version:
        return version
    console.print(f"no PAIR scorer yet: training one on up to {max_triples:,} SupKG triples")
    with Graph(s) as g, console.status("training the plausibility scorer…"):
        scorer = train_from_graph(
            g,
            TextEmbedder.from_settings(s).encode,
            scorer_root(s.home),
            max_triples=max_triples,
            embedder_name=s.embed_model,
        )
    return scorer.manifest.version


@pair.command("run")
@_batch_options(when="", default_types="Item", redo_after_days=0.0)
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
@_mining_options
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

    Sources: those never expanded, failed ones with attempts left, those done before --redo-after-days,
    and pending/running ones older than --stale-after (their message was lost). --key names sources
    explicitly (a new run re-mines them; the LLM cache and MERGE keep that cheap and duplicate-free).
    """
    import time

    from mokg.graph import Graph
    from mokg.pair.runs import default_config, plan_run, wait_for_run
    from mokg.pair.store import SourceRef

    s = get_settings()
    changes = _mining_changes(mining)
    if changes.get("use_scorer", True):
        _ensure_scorer(scorer_triples)
    config = default_config(s, **changes)
    refs = [SourceRef.parse(k) for k in keys]
    with Graph(s) as g:
        runtime = None
        batches = 0
        while True:
            plan = plan_run(
                g,
                config,
                types=types or ("Item",),
                limit=limit,
                keys=refs,
                redo_after_days=redo_after_days,
                stale_after_s=stale_after,
            )
            out.print(
                f"pair run {plan.run_id}: {len(plan.sources)} sources, scorer {config.scorer_version or 'none'}"
            )
            if inline:
                from mokg.pair.mining import Runtime

                runtime = runtime or Runtime(s, graph=g)  # one per process: its pools outlive a batch
                for ref in plan.sources:
                    outcome = runtime.mine(ref, plan.run_id, config, worker="inline")
                    out.print(f"  {ref}: {outcome.status}, {outcome.triples} triples")
            else:
                from workers.tasks import mine_entity

                for ref in plan.sources:
                    mine_entity.delay(str(ref), plan.run_id, config.to_dict())
            if wait_s and not inline:
                counts = wait_for_run(g, plan.run_id, timeout_s=wait_s)
                out.print(f"pair run {plan.run_id}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            batches += 1
            if not continuous or (max_batches is not None and batches >= max_batches):
                return
            refs = []  # later batches follow the selection rule
            time.sleep(interval)


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
        out.print(f"failed {f.type}:{f.id} (run {f.run}, attempt {f.attempts}, {f.at}): {f.error}")


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
    type=click.Choice(["full", "no_aggregation", "no_progressive", "no_relation_filter"]),
    multiple=True,
    help="Ablation rows (repeatable; default all four).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Report folder (default: $MOKG_HOME/reports).",
)
@click.option("--scorer-triples", type=click.IntRange(2), default=3000, show_default=True)
@_mining_options
def pair_eval(
    seeds: int,
    holdout: float,
    variants: tuple[str, ...],
    out_dir: Path | None,
    scorer_triples: int,
    **mining: object,
) -> None:
    """Mine seed items dry (nothing is written) under each ablation and report AEE, Novelty, ILAD, the
    ALSO_BOUGHT recovery proxy, the candidates the aggregation and scorer filtered, and a Table-IV-style
    audience coverage. Writes pair-eval-<time>.md and .json."""
    from mokg.graph import Graph
    from mokg.pair.evaluation import VARIANTS, EvalConfig, evaluate, write_report
    from mokg.pair.mining import Runtime
    from mokg.pair.runs import default_config

    s = get_settings()
    changes = _mining_changes(mining)
    if changes.get("use_scorer", True):
        _ensure_scorer(scorer_triples)
    config = EvalConfig(
        seeds=seeds,
        holdout_share=holdout,
        variants=variants or tuple(VARIANTS),
        mining=default_config(s, **changes),
    )
    with Graph(s) as g:
        rt = Runtime(s, graph=g)
        with console.status("evaluating PAIR…"):
            report = evaluate(rt, config, progress=lambda msg: console.print(msg))
    md, js = write_report(report, out_dir or s.home / "reports")
    out.print(report.markdown())
    out.print(f"report: {md} and {js}")


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

    from mokg.graph import Graph
    from mokg.llm import TextEmbedder
    from mokg.pair.scorer import ScorerConfig
    from mokg.pair.training import scorer_root, train_from_graph

    s = get_settings()
    config = ScorerConfig(seed=s.seed)
    config = replace(config, epochs=epochs) if epochs else config
    with Graph(s) as g, console.status("training the plausibility scorer…"):
        scorer = train_from_graph(
            g,
            TextEmbedder.from_settings(s).encode,
            scorer_root(s.home),
            max_triples=max_triples,
            config=config,
            embedder_name=s.embed_model,
        )
    st = scorer.manifest.stats
    out.print(
        f"scorer {scorer.manifest.version}: {st['n_positive']:,} positives, {st['n_negative']:,} negatives, "
        f"validation AUC {st['val_auc'] or float('nan'):.3f}, accuracy {st['val_accuracy'] or float('nan'):.3f}"
    )


if __name__ == "__main__":
    main()
