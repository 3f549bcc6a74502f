"""A LightPAIR adapter as a GGUF LoRA file, so the embedded llama.cpp server can load it (``--lora``).

The format is the one llama.cpp's own ``convert_lora_to_gguf.py`` writes and ``src/llama-adapter.cpp`` reads:
``general.type = adapter``, ``adapter.type = lora``, ``adapter.lora.alpha``, the base model's
``general.architecture``, and per adapted weight two tensors ``<gguf weight name>.lora_a`` (r × in) and
``.lora_b`` (out × r), stored as PEFT saves them (numpy shapes; GGUF lists the dimensions reversed, which is
what llama.cpp's shape check expects). llama.cpp scales by alpha / r, as PEFT does without rsLoRA.

One subtlety: llama.cpp stores LLaMA's ``attn_q`` / ``attn_k`` weights with their rows permuted for its rotary
embedding (``convert_hf_to_gguf.py``'s ``LlamaModel.permute``), and transformers undoes that permutation when
it loads a GGUF. The adapter was trained on transformers' layout, so the output side (``lora_b``) of q and k
is permuted the same way here; ``lora_a`` (the input side) is not. The conversion needs numpy, safetensors and
gguf, not torch.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import gguf
import numpy as np

ADAPTER_GGUF = "adapter.gguf"

# transformers' LLaMA module names → llama.cpp's tensor names (gguf-py's TensorNameMap, LLaMA subset)
_MODULES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_KEY = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(.+)\.lora_([AB])\.weight$")


class AdapterConversionError(ValueError):
    """The adapter cannot be expressed as a llama.cpp LoRA for this base model."""


def rope_permute(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Rows of a q/k projection (or of a LoRA B) from transformers' order to llama.cpp's."""
    rows = weight.shape[0]
    if rows % (2 * n_head):
        raise AdapterConversionError(f"{rows} rows do not split into {n_head} heads of rotary pairs")
    return (
        weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def _field(reader: gguf.GGUFReader, key: str) -> object:
    field = reader.fields.get(key)
    if field is None:
        raise AdapterConversionError(f"the base GGUF has no {key}")
    return field.contents()


def write_adapter_gguf(adapter_dir: Path, base_gguf: Path, out: Path | None = None) -> Path:
    """``adapter_dir``'s PEFT LoRA (``adapter_config.json`` + ``adapter_model.safetensors``) as a GGUF LoRA
    for ``base_gguf``'s model; written atomically to ``out`` (default ``adapter_dir/adapter.gguf``)."""
    from safetensors.numpy import load_file

    out = out or adapter_dir / ADAPTER_GGUF
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    for flag in ("use_dora", "use_rslora"):
        if config.get(flag):
            raise AdapterConversionError(f"{adapter_dir}: {flag} adapters have no llama.cpp LoRA form")
    reader = gguf.GGUFReader(base_gguf)
    arch = str(_field(reader, "general.architecture"))
    if arch != "llama":
        raise AdapterConversionError(
            f"{base_gguf}: architecture {arch!r}; only LLaMA-family bases are mapped"
        )
    heads = {"attn_q": int(_field(reader, f"{arch}.attention.head_count"))}  # type: ignore[call-overload]
    heads["attn_k"] = int(_field(reader, f"{arch}.attention.head_count_kv"))  # type: ignore[call-overload]
    base_shapes = {t.name: tuple(int(d) for d in t.shape[::-1]) for t in reader.tensors}  # numpy order

    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in load_file(adapter_dir / "adapter_model.safetensors").items():
        match = _KEY.match(key)
        if match is None or match.group(2) not in _MODULES:
            raise AdapterConversionError(f"{adapter_dir}: tensor {key} has no llama.cpp counterpart")
        layer, module, side = match.groups()
        name = f"blk.{layer}.{_MODULES[module]}.weight"
        pairs.setdefault(name, {})[side] = np.ascontiguousarray(value, dtype=np.float32)

    writer = gguf.GGUFWriter(None, arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    for name in sorted(pairs, key=lambda n: (int(n.split(".")[1]), n)):
        a, b = pairs[name].get("A"), pairs[name].get("B")
        if a is None or b is None:
            raise AdapterConversionError(f"{adapter_dir}: {name} lacks its lora_A or lora_B")
        if name not in base_shapes or base_shapes[name] != (b.shape[0], a.shape[1]):
            raise AdapterConversionError(
                f"{adapter_dir}: {name} does not fit the base model {base_gguf.name}"
            )
        kind = name.split(".")[2]
        if kind in heads:
            b = np.ascontiguousarray(rope_permute(b, heads[kind]))
        writer.add_tensor(f"{name}.lora_a", a)
        writer.add_tensor(f"{name}.lora_b", b)
    if not pairs:
        raise AdapterConversionError(f"{adapter_dir}: the adapter holds no LoRA tensors")

    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    writer.write_header_to_file(tmp)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)
    return out
