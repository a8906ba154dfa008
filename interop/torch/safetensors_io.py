"""Reading and writing the project's safetensors checkpoints with nothing but the standard library and torch.

The format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length, a JSON
header (tensor name -> dtype, shape, byte offsets; "__metadata__" -> string pairs), padded with spaces
to a multiple of 8, then the raw little-endian data. Written here in the order the engine writes it
(engine/safetensors.ts: by dtype, then by name), so a file read and written back is the same bytes.
"""
import json
import os
import struct

import torch

DTYPES = {"F32": torch.float32, "I32": torch.int32}  # a student checkpoint is all F32
NAMES = {torch.float32: "F32", torch.int32: "I32"}
RANK = {"F32": 2, "I32": 0}


def load(path):
    """(tensors: name -> CPU tensor, metadata: dict of strings) from a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    data = raw[8 + n :]
    tensors = {}
    for name, e in header.items():
        if e["dtype"] not in DTYPES:
            raise ValueError(f"{path}: tensor '{name}' has dtype {e['dtype']}; expected F32 or I32")
        begin, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[e["dtype"]]) if end > begin else torch.zeros(0, dtype=DTYPES[e["dtype"]])
        tensors[name] = t.reshape(e["shape"])
    return tensors, metadata


def js(v):
    """JSON as JavaScript's JSON.stringify writes it (no spaces, non-ASCII kept)."""
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def save(path, tensors, metadata=None):
    """Write tensors (name -> tensor, f32 or i32) and string metadata, atomically (a temporary file renamed)."""

    entries = []
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        if t.dtype not in NAMES:
            raise ValueError(f"tensor '{name}': dtype {t.dtype} is not float32 or int32")
        entries.append((name, NAMES[t.dtype], t))
    entries.sort(key=lambda e: (-RANK[e[1]], e[0].encode("utf-8")))
    parts = []
    if metadata:
        parts.append('"__metadata__":{' + ",".join(f"{js(k)}:{js(v)}" for k, v in metadata.items()) + "}")
    offset = 0
    blobs = []
    for name, dtype, t in entries:
        blob = t.numpy().tobytes()
        parts.append(f'{js(name)}:{{"dtype":"{dtype}","shape":{js(list(t.shape))},"data_offsets":[{offset},{offset + len(blob)}]}}')
        offset += len(blob)
        blobs.append(blob)
    head = ("{" + ",".join(parts) + "}").encode("utf-8")
    n = (len(head) + 7) // 8 * 8
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", n))
        f.write(head + b" " * (n - len(head)))
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)
