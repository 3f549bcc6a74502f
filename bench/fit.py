"""GLoM's learning stages alone, in memory, on any device: `mokg train`'s PM and GLM timed on one graph's
triples beside their floors (`bench/floors.py`), measured in the same run on the same device.

Two steps, so that the triples of a large set can be timed on another machine (a GPU one) without the graph
server or the review files. `prepare` reads the files as `mokg train` would see them after ingest (VADER
polarity, §3.4 similarity with the settings' bounds, SupKG links from the meta file) and saves the typed
triples (22 MB at 1M synthetic users); `run` loads them and trains:

    python bench/fit.py prepare --reviews R.json.gz --meta M.json.gz --out kg.npz
    MOKG_DEVICE=cuda python bench/fit.py run --kg kg.npz --json fit.json

Without profiles (`mokg train --no-profiles`); the configuration is `TrainConfig`'s defaults, sized for the
graph as `mokg train` sizes it, then `--train-config` overrides.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from floors import EpochClock, glm_floor, peak_rss_mb, pm_floor, sync

from mokg.config import get_settings
from mokg.glom.data import TrainConfig
from mokg.glom.fitting import fit_glm, fit_pm, kg_triples
from mokg.glom.triples import KGTriples


def _config(overrides: str) -> TrainConfig:
    return TrainConfig.from_settings(get_settings(), use_profiles=False, **TrainConfig.changes(overrides))


def prepare(args: argparse.Namespace) -> None:
    from lookalike import read_kg

    torch.set_num_threads(get_settings().torch_threads)
    t0 = time.perf_counter()
    kg = read_kg(args.reviews, args.meta)
    t1 = time.perf_counter()
    kgt, users, n_similar = kg_triples(kg, _config(""))
    t2 = time.perf_counter()
    info = {
        "reviews": str(args.reviews),
        "meta": str(args.meta) if args.meta else None,
        "n_reviews": len(kg.reviews),
        "n_users": len(users),
        "n_items": len(kg.items),
        "n_similar": n_similar,
        "seconds": {"read+polarity": round(t1 - t0, 1), "similarity+triples": round(t2 - t1, 1)},
    }
    np.savez_compressed(
        args.out,
        entity_type=kgt.entity_type.numpy().astype(np.int8),
        head=kgt.head.numpy().astype(np.int32),
        rel=kgt.rel.numpy().astype(np.int8),
        tail=kgt.tail.numpy().astype(np.int32),
        names=np.array(json.dumps({"types": kgt.type_names, "relations": kgt.relation_names, **info})),
    )
    print(f"{args.out}: {kgt.num_triples:,} triples, {kgt.num_entities:,} entities; {json.dumps(info)}")


def load(path: Path) -> tuple[KGTriples, dict[str, Any]]:
    with np.load(path) as z:
        info = json.loads(str(z["names"]))
        kgt = KGTriples(
            num_entities=len(z["entity_type"]),
            entity_type=torch.from_numpy(z["entity_type"].astype(np.int64)),
            type_names=info.pop("types"),
            relation_names=info.pop("relations"),
            head=torch.from_numpy(z["head"].astype(np.int64)),
            rel=torch.from_numpy(z["rel"].astype(np.int64)),
            tail=torch.from_numpy(z["tail"].astype(np.int64)),
        )
    return kgt, info


def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = get_settings()
    torch.set_num_threads(settings.torch_threads)
    device = settings.torch_device
    kgt, info = load(args.kg)
    cfg = _config(args.train_config).sized_for(kgt.num_triples)
    clock = EpochClock()
    t0 = time.perf_counter()
    pm = fit_pm(kgt, cfg, clock, device)
    sync(device)
    t1 = time.perf_counter()
    fit_glm(kgt, pm, cfg, clock, device)
    sync(device)
    t2 = time.perf_counter()
    floors = {"PM": pm_floor(kgt, cfg, device)}
    if cfg.glm_epochs:
        floors["GLM"] = glm_floor(kgt, cfg, device)
    result = {
        "data": info,
        "triples": kgt.num_triples,
        "entities": kgt.num_entities,
        "device": device,
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
        "cpu_threads": torch.get_num_threads(),
        "host": platform.node(),
        "torch": torch.__version__,
        "config": asdict(cfg),
        "seconds": {"PM": round(t1 - t0, 2), "GLM": round(t2 - t1, 2)},
        "seconds_per_pm_epoch": round((t1 - t0) / cfg.pm_epochs, 3),
        "floors": {k: round(v, 4) for k, v in floors.items()},
        "pm_loss_first_last": [round(pm.loss_history[0], 4), round(pm.loss_history[-1], 4)],
        "peak_rss_mb": round(peak_rss_mb()),
        "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20) if device == "cuda" else None,
    }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="files -> typed triples (.npz)")
    p.add_argument("--reviews", type=Path, required=True)
    p.add_argument("--meta", type=Path)
    p.add_argument("--out", type=Path, required=True)
    r = sub.add_parser(
        "run", help="train the PM and GLM on saved triples on MOKG_DEVICE, beside their floors"
    )
    r.add_argument("--kg", type=Path, required=True)
    r.add_argument(
        "--train-config",
        default="",
        help="TrainConfig overrides of the training, e.g. pm_epochs=30 (the triples were fixed by prepare)",
    )
    r.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    if args.command == "prepare":
        prepare(args)
        return
    result = run(args)
    sec, floors = result["seconds"], result["floors"]
    print(
        f"{result['entities']:,} entities, {result['triples']:,} triples on {result['device']} "
        f"({result['gpu'] or str(result['cpu_threads']) + ' threads'}): PM {sec['PM']:.1f} s "
        f"({result['config']['pm_epochs']} epochs, {result['seconds_per_pm_epoch']:.2f} s each), "
        f"GLM {sec['GLM']:.1f} s; peak RSS {result['peak_rss_mb']} MB"
        + (f", GPU {result['peak_gpu_mb']} MB" if result["peak_gpu_mb"] is not None else "")
    )
    for stage, floor in floors.items():
        ratio = f"x{sec[stage] / floor:.1f}" if floor else "n/a"
        print(f"  {stage:4} {sec[stage]:8.1f} s against a floor of {floor:8.2f} s: {ratio}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
