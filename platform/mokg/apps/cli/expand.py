"""`mokg expand`: a lookalike audience from the embeddings."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from mokg.apps.cli.output import console, out


def _param_value(raw: str) -> object:
    import json

    try:  # numbers, booleans and null as JSON; anything else is a string
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, int | float | bool) or value is None else raw


@click.command()
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
    from mokg.export import FORMATS, read_user_ids, write_audience
    from mokg.graph import Graph
    from mokg.lookalike.audience import (
        AudienceError,
        AudienceRequest,
        EmbeddingsUnavailable,
        Filters,
        Seeds,
        expand_audience,
    )
    from mokg.lookalike.scoring import activity_label

    if sum(x is not None for x in (seeds_file, item, query_name)) != 1:
        raise click.UsageError("give exactly one of --seeds, --item or --query")
    if params and query_name is None:
        raise click.UsageError("--param goes with --query")
    if out_file is not None and out_file.suffix not in FORMATS:
        raise click.BadParameter("must end in .csv or .jsonl", param_hint="--out")
    pairs = [p.partition("=") for p in params]
    if any(not sep or not name for name, sep, _ in pairs):
        raise click.BadParameter("expected NAME=VALUE", param_hint="--param")
    try:
        req = AudienceRequest(
            seeds=Seeds(
                user_ids=tuple(read_user_ids(seeds_file)) if seeds_file else (),
                item=item,
                query=query_name,
                params={name: _param_value(value) for name, _, value in pairs},
            ),
            k=100 if k is None and threshold is None else k,
            threshold=threshold,
            method=method,  # type: ignore[arg-type]
            exclude=tuple(read_user_ids(exclude)) if exclude else (),
            filters=Filters(category=category, min_reviews=min_reviews),
            explain=explain,
        )
        with Graph() as g:
            audience = expand_audience(g, req)
    except (AudienceError, EmbeddingsUnavailable) as e:
        raise click.ClickException(str(e)) from e
    st = audience.stats
    console.print(
        f"expand: {st.n_returned} users from {st.n_seeds_found}/{st.n_seeds} seeds "
        f"({activity_label(st.method, st.activity_weight)}: {st.method_source}, "
        f"model {audience.model_version}); unknown seeds: {', '.join(st.unknown_seed_ids) or 'none'}"
        + (
            f"; without embedding: {', '.join(st.seeds_without_embedding)}"
            if st.seeds_without_embedding
            else ""
        )
    )
    if out_file is None:
        table = Table("rank", "user_id", "score", *(["why"] if explain else []))
        for m in audience.users:
            why = [m.explanation.summary() if m.explanation else ""] if explain else []
            table.add_row(str(m.rank), m.user_id, f"{m.score:.4f}", *why)
        out.print(table)
        return
    n = write_audience(out_file, audience, explain=explain)
    console.print(f"expand: wrote {n} users to {out_file}")
