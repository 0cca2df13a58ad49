# Reads a checkpoint that `diverge train` writes with the safetensors library (numpy API, no torch) and checks it.
"""Usage (in the reference venv): checkpoint_safetensors.py --diverge build/diverge [--keep DIR]

Prepares the bundled corpus with the bundled tokenizer and trains a small model for 2 steps (untied output, a dense
first layer, routed and shared experts: every kind of parameter name), then checks both tensor files of its
checkpoint (engine/checkpoint/CHECKPOINT.md):

  - safe_open(framework="numpy") opens the file and loads every tensor; the metadata is {"format": "pt"};
  - model.safetensors holds exactly MODEL.md's parameters for the checkpoint's resolved config, each float32 of
    MODEL.md's shape (tests/reference/model_layout.py); optimizer.safetensors exactly "<name>.exp_avg" and
    "<name>.exp_avg_sq" of each, alike; every value finite; the file size is the one state.json records;
  - safetensors.numpy.save of what the library read, with that metadata, gives the file byte for byte: the
    library read each tensor's very bytes, and Diverge's writer lays a file out as the library does.

Prints one line per file; exit 1 with the problems otherwise.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save

from model_layout import ModelConfig, config_from_dict, parameter_shapes

REPO = Path(__file__).resolve().parents[2]

# A small model of every parameter kind, trained for 2 steps with one checkpoint at the end.
TRAIN_OVERRIDES = {
    "model.d_model": 32, "model.n_layers": 3, "model.n_heads": 2, "model.n_kv_heads": 1, "model.max_seq_len": 32,
    "model.expert_hidden": 16, "model.tied_embeddings": "false", "model.n_shared_experts": 1,
    "model.shared_expert_hidden": 16, "model.first_k_dense": 1, "model.dense_hidden": 48, "data.seq_len": 32,
    "data.micro_batch": 2, "train.steps": 2, "optim.warmup_steps": 1, "train.checkpoint_every": 2,
    "train.threads": 1, "log.quiet": "true",
}


def run(command):
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({result.returncode}): {result.stderr.strip()}")


def train_checkpoint(diverge, work):
    """Trains the small model into work/run; -> the checkpoint directory."""
    corpus, out = work / "corpus", work / "run"
    run([diverge, "prepare", "--input", REPO / "data/corpus/bundled", "--tokenizer",
         REPO / "data/vocab/bundled/tokenizer.json", "--output", corpus])
    sets = [arg for key, value in TRAIN_OVERRIDES.items() for arg in ("--set", f"{key}={value}")]
    run([diverge, "train", "--config", REPO / "configs/tiny-cpu.json", "--out", out, "--set",
         f"data.corpus={corpus}", *sets])
    return out / "checkpoints" / (out / "checkpoints/latest").read_text().strip()


def expected_layouts(state):
    """File name -> {tensor name: shape} that the checkpoint's resolved config calls for."""
    model = parameter_shapes(config_from_dict(ModelConfig, state["config"]["model"], "state.json: config.model"))
    moments = {f"{name}.{moment}": shape for name, shape in model.items() for moment in ("exp_avg", "exp_avg_sq")}
    return {"model.safetensors": model, "optimizer.safetensors": moments}


def read_with_library(path):
    """-> (metadata, name -> numpy array) as the safetensors library reads the file."""
    with safe_open(str(path), framework="numpy") as handle:
        return handle.metadata(), {name: handle.get_tensor(name) for name in handle.keys()}


def layout_problems(file_name, tensors, expected):
    problems = [f"{file_name}: {name}: missing" for name in expected if name not in tensors]
    problems += [f"{file_name}: {name}: not a tensor the config calls for" for name in tensors if name not in expected]
    for name, array in tensors.items():
        if name not in expected:
            continue
        if array.dtype != numpy.float32 or array.shape != tuple(expected[name]):
            problems.append(f"{file_name}: {name}: {array.dtype} {list(array.shape)}, expected float32 "
                            f"{list(expected[name])}")
        elif not numpy.isfinite(array).all():
            problems.append(f"{file_name}: {name}: holds a NaN or an infinity")
    return problems


def check_file(path, expected, recorded_bytes):
    """Problems with one tensor file of a checkpoint (empty when it is right)."""
    try:
        metadata, tensors = read_with_library(path)
    except (SafetensorError, OSError) as error:
        return [f"{path.name}: the safetensors library cannot read it: {error}"]
    problems = layout_problems(path.name, tensors, expected)
    if metadata != {"format": "pt"}:
        problems.append(f"{path.name}: metadata {metadata}, expected {{'format': 'pt'}}")
    raw = path.read_bytes()
    if len(raw) != recorded_bytes:
        problems.append(f"{path.name}: {len(raw)} bytes, state.json records {recorded_bytes}")
    if save(tensors, metadata=metadata) != raw:
        problems.append(f"{path.name}: safetensors.numpy.save of the tensors read gives other bytes than the file")
    return problems


def check_checkpoint(checkpoint):
    """-> (lines describing each file that is right, problems)."""
    state = json.loads((checkpoint / "state.json").read_text())
    ok, problems = [], []
    for file_name, expected in expected_layouts(state).items():
        found = check_file(checkpoint / file_name, expected, state["files"][file_name]["bytes"])
        problems += found
        if not found:
            ok.append(f"{file_name}: {len(expected)} float32 tensors of MODEL.md's names and shapes load in "
                      f"safetensors.numpy, and saving them gives the file byte for byte")
    return ok, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diverge", required=True, help="the diverge binary")
    parser.add_argument("--keep", type=Path, help="train into this directory and keep it (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="checkpoint-safetensors-") as scratch:
        work = args.keep or Path(scratch)
        ok, problems = check_checkpoint(train_checkpoint(args.diverge, work))
    print("\n".join(ok + problems))
    if problems:
        sys.exit(f"checkpoint_safetensors: {len(problems)} problem(s)")


if __name__ == "__main__":
    main()
