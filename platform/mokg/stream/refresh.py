"""Refresh policy: how far the served embeddings have drifted from the last full training, and when to
retrain. Drift is the share of embedded users whose vector was computed inductively since that training; a
full retrain (the ``train_glom`` task, on its own queue) is requested once it passes a threshold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mokg.graph import Graph

REQUESTED = "RETRAIN_REQUESTED"  # beside the model artifacts: when the last retrain was asked for


@dataclass(frozen=True)
class Drift:
    trained: int  # users embedded by the last full training
    inductive: int  # users embedded from their edges since
    without: int  # users with no embedding

    @property
    def share(self) -> float:
        """Inductive users among the embedded ones."""
        embedded = self.trained + self.inductive
        return self.inductive / embedded if embedded else 0.0


def drift(graph: Graph) -> Drift:
    counts = {"train": 0, "inductive": 0, "none": 0}
    for r in graph.query("stream/embedding_sources"):
        counts["none" if r["version"] is None else str(r["source"])] += int(r["n"])
    return Drift(counts["train"], counts["inductive"], counts["none"])


def retrain_due(d: Drift, threshold: float, folder: Path) -> bool:
    """Past ``threshold`` (0: never), and not already asked for since the served model was written."""
    if threshold <= 0 or d.share < threshold:
        return False
    requested, current = folder / REQUESTED, folder / "CURRENT"
    return not (
        requested.exists() and current.exists() and requested.stat().st_mtime >= current.stat().st_mtime
    )


def mark_requested(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / REQUESTED).touch()
