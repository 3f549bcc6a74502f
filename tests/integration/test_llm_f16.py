"""The embedded model served from its weights unpacked to F16 (MOKG_LLM_WEIGHTS=f16, the default)."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest

from mokg.config import Settings, SettingsError
from mokg.llm import LLMClient
from mokg.stack import down, up
from mokg.stack.gguf_f16 import MAX_SOURCE_BYTES, f16_path, unpack_f16
from mokg.stack.packages import llm_model_file
from mokg.stack.process import port_in_use
from mokg.stack.services import llama_service

PROMPTS = [
    "Describe a gift card buyer in one sentence.",
    "Name three occasions for giving a gift card.",
]


def _free_port(start: int) -> int:
    return next(p for p in range(start, start + 200) if not port_in_use(p))


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    source = llm_model_file(Settings())
    return source, unpack_f16(source, tmp_path_factory.mktemp("models") / "m.F16.gguf")


def test_every_quantized_tensor_becomes_f16_and_the_metadata_stays(unpacked: tuple[Path, Path]) -> None:
    source, copy = unpacked
    before, after = gguf.GGUFReader(source), gguf.GGUFReader(copy)
    assert [t.name for t in after.tensors] == [t.name for t in before.tensors]
    kinds = {t.tensor_type for t in after.tensors}
    assert kinds <= {gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.F32}
    assert gguf.GGMLQuantizationType.F16 in kinds
    for b, a in zip(before.tensors, after.tensors, strict=True):
        assert list(a.shape) == list(b.shape), a.name
    file_type = after.fields[gguf.Keys.General.FILE_TYPE].contents()
    assert file_type == gguf.LlamaFileType.MOSTLY_F16
    for key in ("tokenizer.chat_template", "llama.context_length", "tokenizer.ggml.tokens"):
        assert after.fields[key].contents() == before.fields[key].contents(), key
    assert not list(copy.parent.glob(".*.tmp")), "the temporary file is left behind"


def test_the_cache_name_follows_the_source_file(tmp_path: Path) -> None:
    a = tmp_path / "a.gguf"
    a.write_bytes(b"x")
    first = f16_path(a, tmp_path / "models")
    a.write_bytes(b"xy")
    assert f16_path(a, tmp_path / "models") != first


def test_unknown_weights_setting_is_refused() -> None:
    with pytest.raises(SettingsError, match="MOKG_LLM_WEIGHTS='q2'"):
        Settings(llm_weights="q2")


def test_the_f16_server_answers_as_the_packaged_file_does(tmp_path: Path) -> None:
    """Both files, each behind a real llama-server started by the stack code, greedy: the same opening
    words. (Not the whole reply: llama.cpp's quantized path rounds activations to 8 bits and the F16 path
    does not, so greedy replies may part after a dozen words; broken weights part at once.)"""
    replies = {}
    port = 18600
    for weights in ("file", "f16"):
        port = _free_port(port + 1)
        s = Settings().with_(home=tmp_path / weights, llm_port=port, llm_weights=weights, llm_parallel=1)
        argv = list(llama_service(s).argv)
        served = Path(argv[argv.index("--model") + 1])
        assert (served == llm_model_file(s)) == (weights == "file")
        up(s, ["llm"])
        try:
            assert served.exists()
            client = LLMClient(s, use_cache=False)
            replies[weights] = [
                client.chat([{"role": "user", "content": p}], max_tokens=24).text for p in PROMPTS
            ]
        finally:
            down(s, ["llm"])
    for f16, packed in zip(replies["f16"], replies["file"], strict=True):
        assert f16.split()[:6] == packed.split()[:6], (f16, packed)


def test_a_large_model_is_served_as_it_is(tmp_path: Path) -> None:
    """A 7B Q4 file would become a 14 GB copy: past MAX_SOURCE_BYTES the file is served unchanged."""
    big = tmp_path / "big.gguf"
    with big.open("wb") as f:  # sparse: no disk used
        f.truncate(MAX_SOURCE_BYTES + 1)
    s = Settings().with_(home=tmp_path, llm_model_path=str(big), llm_weights="f16")
    service = llama_service(s)
    argv = list(service.argv)
    assert argv[argv.index("--model") + 1] == str(big)
    assert service.before_start is None
