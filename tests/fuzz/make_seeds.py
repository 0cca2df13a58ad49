#!/usr/bin/env python3
# The fuzz seed corpora of tests/fuzz/seeds/, written from real files of the repository.
"""Writes the fuzz seed corpora of tests/fuzz/seeds/ from real files of the repository, cut down where a file is
too large for a fuzzer to mutate usefully (a vocabulary keeps its 256 byte tokens and its first merges).

    python3 tests/fuzz/make_seeds.py --manifest runs/bundled-corpus/manifest.json \
        --checkpoint runs/x/checkpoints/step-000002

The manifest comes from `diverge prepare` of the bundled corpus, the checkpoint from
`diverge train --config configs/tiny-cpu.json --set train.steps=2 --set optim.warmup_steps=1 --out runs/x`.
"""
import argparse
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEEDS = ROOT / "tests/fuzz/seeds"
KEPT_TOKENS = 400  # the 256 byte tokens and the first 144 merged ones


def write(harness, name, data):
    path = SEEDS / harness / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def config_seeds():
    for path in sorted((ROOT / "configs").rglob("*.json")):
        write("config", path.stem, path.read_bytes())
    overrides = ["optim.lr=3e-4", 'data.weights={"coarse": {"code": 2, "prose": 1}}', "train.steps=1e2",
                 "edl.layers=[1, 3]", "optim.schedule=wsd", "optim.decay_steps=10"]
    write("config", "tiny-cpu-with-overrides", (ROOT / "configs/tiny-cpu.json").read_bytes() + b"\0" +
          "\n".join(overrides).encode())


def shard_index_seeds():
    megatron = ROOT / "tests/data/megatron"
    for name in ("u16", "i32"):
        bin_bytes = (megatron / f"{name}.bin").stat().st_size
        idx = (megatron / f"{name}.idx").read_bytes()
        write("shard_index", name, struct.pack("<HH", bin_bytes, 0) + idx)
        write("shard_index", f"{name}-vocab-40000", struct.pack("<HH", bin_bytes, 40000) + idx)


def kept_merges(merges, vocab):
    """The merges (in order) whose halves and result are all kept tokens."""
    kept = []
    for merge in merges:
        left, right = merge if isinstance(merge, list) else merge.split(" ")
        if left in vocab and right in vocab and left + right in vocab:
            kept.append(merge)
    return kept


def cut_hugging_face(path):
    doc = json.loads(path.read_text())
    vocab = {token: i for token, i in doc["model"]["vocab"].items() if i < KEPT_TOKENS}
    doc["model"]["vocab"] = vocab
    doc["model"]["merges"] = kept_merges(doc["model"]["merges"], vocab)
    doc["added_tokens"] = doc["added_tokens"][:3]
    return json.dumps(doc, ensure_ascii=False, indent=1)


def tokenizer_seeds():
    tiktoken = (ROOT / "data/vocab/tiktoken/r50k_base.tiktoken").read_text().splitlines(keepends=True)
    write("tiktoken", "r50k_base-first-400", "".join(tiktoken[:KEPT_TOKENS]))
    cl100k = (ROOT / "data/vocab/tiktoken/cl100k_base.tiktoken").read_text().splitlines(keepends=True)
    write("tiktoken", "cl100k_base-first-400", "".join(cl100k[:KEPT_TOKENS]))

    encoder = json.loads((ROOT / "data/vocab/gpt2/encoder.json").read_text())
    vocab = {token: i for token, i in encoder.items() if i < KEPT_TOKENS or token == "<|endoftext|>"}
    merges = (ROOT / "data/vocab/gpt2/vocab.bpe").read_text().splitlines()
    kept = [merges[0]] + kept_merges(merges[1:], vocab)
    write("gpt2", "gpt2-first-400", json.dumps(vocab, ensure_ascii=False) + "\0" + "\n".join(kept) + "\n")

    write("hugging_face", "bundled-first-400", cut_hugging_face(ROOT / "data/vocab/bundled/tokenizer.json"))
    write("hugging_face", "trained-test", (ROOT / "tests/tokenizer/trained/tokenizer.json").read_bytes())
    qwen3 = cut_hugging_face(ROOT / "data/vocab/qwen3/tokenizer.json")
    write("hugging_face", "qwen3-first-400", qwen3)
    write("hugging_face", "qwen3-first-400-with-config",
          qwen3 + "\0" + (ROOT / "data/vocab/qwen3/tokenizer_config.json").read_text())


def small_tensors_file(path, max_bytes=2048):
    """The tensors of a safetensors file that hold at most max_bytes, as a file of their own (header order kept)."""
    raw = path.read_bytes()
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + length])
    data = raw[8 + length:]
    out_header, out_data = {}, b""
    if "__metadata__" in header:
        out_header["__metadata__"] = header["__metadata__"]
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        if end - begin <= max_bytes:
            out_header[name] = dict(entry, data_offsets=[len(out_data), len(out_data) + end - begin])
            out_data += data[begin:end]
    text = json.dumps(out_header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + out_data


def checkpoint_seeds(manifest, checkpoint):
    write("manifest", "bundled-corpus", manifest.read_bytes())
    write("checkpoint_state", "tiny-cpu-step-2", (checkpoint / "state.json").read_bytes())
    for path in sorted((ROOT / "tests/data/safetensors").glob("*.safetensors")):
        write("safetensors", path.stem, path.read_bytes())
    write("safetensors", "tiny-cpu-small-tensors", small_tensors_file(checkpoint / "model.safetensors"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=pathlib.Path, required=True)
    parser.add_argument("--checkpoint", type=pathlib.Path, required=True)
    args = parser.parse_args()
    config_seeds()
    shard_index_seeds()
    tokenizer_seeds()
    checkpoint_seeds(args.manifest, args.checkpoint)


if __name__ == "__main__":
    main()
