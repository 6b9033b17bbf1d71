"""Check an exported Hugging Face snapshot with the float64 reference, and write the expected logits.

usage: /usr/bin/python3 tests/Fixtures/export/check_export.py tests/Fixtures/export/dense-untied-bf16

Reads the folder the way transformers' from_pretrained does, with nothing from Qwen3Gen: config.json (through the
reference's Qwen3Config), model.safetensors.index.json -> the shards, each shard's safetensors header and BF16/F32
data (a reader of its own, since the reference's st_io has no BF16), generation_config.json and tokenizer.json.
Checks: architectures / model_type / torch_dtype; exactly the reference's parameter set with its shapes (no optimizer
state, no lm_head for a tied model); every shard listed in the index and every index entry in its shard; the
index's total_size; format "pt" metadata. Then runs ref.forward in float64 on the weights as stored (BF16 values
widened exactly) for fixed input ids and writes expected.safetensors (input_ids I64, logits F32) into the folder's
parent, next to the folder, as <folder>.expected.safetensors. Needs python3 with torch and numpy (Debian python3-torch).
"""

import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import qwen3_ref as ref  # noqa: E402
import st_io  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        raw = body[b:e]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif info["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        else:
            raise ValueError("%s: unexpected dtype %s for %s" % (path, info["dtype"], name))
        assert arr.size == int(np.prod(shape)), name
        out[name] = (info["dtype"], arr.reshape(shape).astype(np.float64))
    return out, meta


def main(folder):
    folder = os.path.abspath(folder)
    with open(os.path.join(folder, "config.json")) as f:
        raw = json.load(f)
    assert raw["architectures"] == ["Qwen3ForCausalLM"], raw["architectures"]
    assert raw["model_type"] == "qwen3"
    cfg = ref.Qwen3Config(raw)

    index_path = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        files = sorted(set(index["weight_map"].values()))
    else:
        index, files = None, ["model.safetensors"]
    params, dtypes, total = {}, set(), 0
    for name in files:
        tensors, meta = read_safetensors(os.path.join(folder, name))
        assert meta.get("format") == "pt", (name, meta)
        for key, (dt, arr) in tensors.items():
            assert key not in params, "duplicate " + key
            if index is not None:
                assert index["weight_map"][key] == name, (key, name)
            params[key] = torch.from_numpy(arr)
            dtypes.add(dt)
            total += arr.size * (2 if dt == "BF16" else 4)
    if index is not None:
        assert index["metadata"]["total_size"] == total, (index["metadata"]["total_size"], total)
        assert set(index["weight_map"]) == set(params)
    expected_dtype = {"bfloat16": {"BF16"}, "float32": {"F32"}}[raw["torch_dtype"]]
    assert dtypes == expected_dtype, (dtypes, raw["torch_dtype"])

    shapes = ref.param_shapes(cfg)
    assert set(params) == set(shapes), ("missing", set(shapes) - set(params), "extra", set(params) - set(shapes))
    for key, shape in shapes.items():
        assert tuple(params[key].shape) == tuple(shape), (key, params[key].shape, shape)

    with open(os.path.join(folder, "generation_config.json")) as f:
        gen = json.load(f)
    with open(os.path.join(folder, "tokenizer.json")) as f:
        tok = json.load(f)
    assert tok["model"]["type"] == "BPE" and len(tok["model"]["vocab"]) == 256 and tok["model"]["merges"] == []

    g = torch.Generator().manual_seed(20261202)
    input_ids = torch.randint(0, cfg.vocab_size, (2, 11), generator=g)
    torch.set_num_threads(1)
    logits = ref.forward(params, cfg, input_ids)["logits"]
    out = os.path.join(os.path.dirname(folder), os.path.basename(folder) + ".expected.safetensors")
    st_io.save(out, {"input_ids": input_ids.numpy().astype(np.int64),
                     "logits": logits.numpy().astype(np.float32)}, {"format": "pt"})
    print("%s: %d tensors in %d file(s) (%s), %d bytes; generation_config %s; logits %s, |max| %.4f -> %s"
          % (folder, len(params), len(files), ",".join(sorted(dtypes)), total, json.dumps(gen, sort_keys=True),
             tuple(logits.shape), logits.abs().max().item(), out))


if __name__ == "__main__":
    main(sys.argv[1])
