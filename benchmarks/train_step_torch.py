# Times PyTorch's training step (forward + backward + clip + AdamW) of the reference model for a config, CPU or GPU.
"""Usage: python3 benchmarks/train_step_torch.py [--config benchmarks/train_step_cpu.json] [--threads 1,2]
           [--blas-threads N] [--device cpu|cuda] [--experts loop|grouped] [--warmup 2] [--steps 5] [--json FILE]
           [--diverge build/diverge] [--vocab-size V]

The model is tests/reference/model.py (MODEL.md's definition), one micro-batch of random tokens (data.micro_batch
x data.seq_len), the step of tests/reference/train_step.py. On the CPU it runs in float32; on CUDA with float32
weights, the forward pass and the losses under bf16 autocast (the router stays float32, as the model says) and
fused AdamW. Where the torch has it (2.0 and later), attention is torch's fused F.scaled_dot_product_attention
(SDPA) instead of the model's written-out softmax(q k^T / sqrt(D)) v; with --experts grouped (the default on
CUDA) the routed experts are two torch._grouped_mm products over expert-sorted rows (benchmarks/grouped_moe.py;
one expert at a time where _grouped_mm cannot run) instead of the model's loop over experts. Both are the same
function as the model's, which is checked on the initial weights in float32 before anything is timed: logits of the
model as timed within 1e-4 of the largest logit of the model as written, on the first 256 tokens. Each CPU thread
count runs in a fresh process with torch.set_num_threads(n) and OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = n (or
--blas-threads), because Debian's OpenBLAS keeps its own thread pool that torch.set_num_threads does not size.
OMP_WAIT_POLICY defaults to PASSIVE (an OMP_WAIT_POLICY in the environment wins): on a machine shared with other
work, spinning OpenMP threads wait out a descheduled partner at every parallel region, which made 2 threads 5-10x
slower than 1 here.
Prints, per thread count (CPU) or once (CUDA), the median step time over --steps steps after --warmup steps,
tokens/s, and the achieved FLOP/s at the model's FLOPs per token, which is 6 N_active + 12 L H D T (PaLM's count,
as `diverge bench` counts: N_active = matrix parameters a token passes through, embedding lookup excluded; the
attention term counts the full T x T score matrix). --json writes the same as {"meta": {...}, "results": [...]}.

A config may leave keys to the engine's defaults (configs/moe-1b-gpu.json does): it is then resolved with
`diverge config show` (--diverge). model.vocab_size 0 takes --vocab-size, else the corpus manifest's size
(data.corpus), as a run would.
"""
import argparse
import contextlib
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "reference"))

from grouped_experts import GROUPED, LOOP, expert_matmul, grouped_mm_runs  # noqa: E402
from grouped_moe import with_grouped_experts  # noqa: E402
from model import (LossConfig, ModelConfig, MoETransformer, causal_attention, config_from_dict,  # noqa: E402
                   init_parameters, parameter_shapes)
from train_step import OptimConfig, make_optimizer, train_step  # noqa: E402

SDPA = hasattr(F, "scaled_dot_product_attention")
SAME_FUNCTION_TOLERANCE = 1e-4  # max |logit difference| / max |logit| between the model as timed and as written
# The check runs on the first CHECK_TOKENS tokens of the batch's first sequence: float32 rounding differs between the
# two forms, and on a whole GPU batch (16 k tokens x 12 layers x 64 experts) some router near-tie would flip a top-k
# choice, changing that token's expert and its logits by far more than rounding does.
CHECK_TOKENS = 256
AUTOCAST_DTYPE = torch.bfloat16  # on CUDA


def sdpa_attention(q, k, v):
    """q, k, v (B, H, T, D) -> (B, H, T, D): model.causal_attention fused (SDPA's default scale is 1/sqrt(D))."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def logits_difference(model, written, tokens):
    """max |logits of model - logits of written| / max |the latter| on the start of the batch, in float32, and how
    many top-k choices the two made differently there."""
    inputs = tokens[:1, :CHECK_TOKENS]  # (1, T')
    with torch.no_grad():
        logits, routings = model(inputs)
        reference, reference_routings = written(inputs)
    flips = sum(int((a.topk != b.topk).any(dim=-1).sum()) for a, b in zip(routings, reference_routings))
    return float((logits - reference).abs().max() / reference.abs().max()), flips


def timed_model(written, device, experts):
    """-> the model as timed (SDPA where the torch has it, grouped experts if asked) with written's weights, on
    device, and the name of the experts' implementation."""
    model = MoETransformer(written.cfg, sdpa_attention if SDPA else causal_attention)
    model.load_state_dict(written.state_dict())
    if experts == "loop":
        return model.to(device), "loop over experts"
    grouped = grouped_mm_runs(device, AUTOCAST_DTYPE if device.type == "cuda" else torch.float32)
    return with_grouped_experts(model, expert_matmul(grouped)).to(device), GROUPED if grouped else LOOP


def section(config, name, path):
    if name not in config or not isinstance(config[name], dict):
        raise ValueError(f"{path}: missing object '{name}'")
    return config[name]


def pick(values, names, where):
    """The named keys of a config section (the engine's sections have more keys than a step needs)."""
    missing = [name for name in names if name not in values]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}")
    return {name: values[name] for name in names}


def resolved_config(path, diverge, vocab_size):
    """The config JSON with every key the step needs: a partial one through `diverge config show`, which fills in
    the engine's defaults; model.vocab_size 0 from vocab_size, else the corpus manifest."""
    config = json.loads(Path(path).read_text())
    fields = {"model": ModelConfig, "loss": LossConfig, "optim": OptimConfig}
    if any(name not in config.get(section_name, {}) for section_name, cls in fields.items()
           for name in cls.__dataclass_fields__):
        if not Path(diverge).is_file():
            raise ValueError(f"{path} leaves keys to the engine's defaults: build diverge or pass --diverge")
        show = subprocess.run([diverge, "config", "show", "--config", str(path)], check=True, capture_output=True,
                              text=True)
        config = json.loads(show.stdout)
    if config["model"]["vocab_size"] == 0:
        config["model"]["vocab_size"] = vocab_size or corpus_vocab_size(config, path)
    return config


def corpus_vocab_size(config, path):
    manifest = REPO / config.get("data", {}).get("corpus", "") / "manifest.json"
    if not manifest.is_file():
        raise ValueError(f"{path}: model.vocab_size 0 means the corpus's, and there is no {manifest}: pass"
                         " --vocab-size")
    return int(json.loads(manifest.read_text())["tokenizer"]["vocab_size"])


def load_config(path, diverge, vocab_size):
    """-> ModelConfig, LossConfig, OptimConfig, batch size, sequence length from a Diverge config JSON."""
    config = resolved_config(path, diverge, vocab_size)
    model = config_from_dict(ModelConfig, section(config, "model", path), f"{path}: model")
    loss = LossConfig(**pick(section(config, "loss", path), LossConfig.__dataclass_fields__, f"{path}: loss"))
    optim = OptimConfig(**pick(section(config, "optim", path), OptimConfig.__dataclass_fields__, f"{path}: optim"))
    data = pick(section(config, "data", path), ("micro_batch", "seq_len"), f"{path}: data")
    return model, loss, optim, int(data["micro_batch"]), int(data["seq_len"])


def active_matrix_parameters(cfg):
    """Weights of the matrices one token's forward pass multiplies with (top_k routed experts, not all E)."""
    d, heads = cfg.d_model, cfg.resolved_head_dim
    attention = 2 * d * cfg.n_heads * heads + 2 * d * cfg.n_kv_heads * heads
    moe = d * cfg.n_experts + cfg.top_k * 3 * d * cfg.expert_hidden + 3 * d * cfg.shared_hidden
    dense = 3 * d * cfg.dense_hidden
    layers = sum(attention + (moe if cfg.is_moe_layer(layer) else dense) for layer in range(cfg.n_layers))
    return layers + cfg.vocab_size * d


def flops_per_token(cfg, seq_len):
    """Forward + backward: 6 N_active + 12 L (H D) T (forward QK^T and AV are 2 * 2 H D T per token and layer)."""
    return 6 * active_matrix_parameters(cfg) + 12 * cfg.n_layers * cfg.n_heads * cfg.resolved_head_dim * seq_len


def loaded_blas():
    """The BLAS libraries mapped into this process (what libblas.so.3 resolved to)."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
    return sorted(paths)


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_context(device):
    """bf16 autocast on CUDA; float32 as written on the CPU."""
    if device.type == "cuda":
        return lambda: torch.autocast("cuda", dtype=AUTOCAST_DTYPE)
    return contextlib.nullcontext


def time_steps(args, device):
    """-> dict of measurements of the step on device (in a CPU worker: at its thread count)."""
    cfg, loss_cfg, optim, batch, seq_len = load_config(args.config, args.diverge, args.vocab_size)
    generator = torch.Generator().manual_seed(0)
    written = MoETransformer(cfg)
    init_parameters(written, generator)
    tokens = torch.randint(0, cfg.vocab_size, (batch, seq_len + 1), generator=generator).to(device)
    model, experts = timed_model(written, device, args.experts)
    difference, flips = logits_difference(model, written.to(device), tokens)
    if difference > SAME_FUNCTION_TOLERANCE:
        raise AssertionError(f"the model as timed and as written differ: {difference:.2e} of the largest logit"
                             f" ({flips} tokens routed differently)")
    del written
    optimizer = make_optimizer(model, optim, fused=device.type == "cuda")
    seconds = []
    for step in range(args.warmup + args.steps):
        synchronize(device)
        start = time.perf_counter()
        result = train_step(model, optimizer, tokens, loss_cfg, optim, forward_context(device))
        synchronize(device)
        if step >= args.warmup:
            seconds.append(time.perf_counter() - start)
    step_s = statistics.median(seconds)
    tokens_per_step = batch * seq_len
    return {"device": device_name(device), "attention": "SDPA" if SDPA else "written out", "experts": experts,
            "precision": "bf16 autocast" if device.type == "cuda" else "float32", "logits_difference": difference,
            "step_s": step_s, "min_s": min(seconds), "max_s": max(seconds), "tokens_per_s": tokens_per_step / step_s,
            "tflops": flops_per_token(cfg, seq_len) * tokens_per_step / step_s / 1e12,
            "last_loss": float(result.losses.total.detach())}


def device_name(device):
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def cpu_worker(args):
    """Runs in the worker process: time_steps at --worker threads, with the thread settings it ran under."""
    torch.set_num_threads(args.worker)
    return dict(time_steps(args, torch.device("cpu")), threads=args.worker, torch_threads=torch.get_num_threads(),
                blas=loaded_blas(), blas_threads=os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
                wait_policy=os.environ.get("OMP_WAIT_POLICY", "unset"))


def run_worker(args, threads):
    blas_threads = args.blas_threads or threads
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(blas_threads),
               MKL_NUM_THREADS=str(blas_threads))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    command = [sys.executable, __file__, "--config", str(args.config), "--worker", str(threads),
               "--warmup", str(args.warmup), "--steps", str(args.steps), "--experts", args.experts,
               "--diverge", str(args.diverge), "--vocab-size", str(args.vocab_size)]
    output = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def describe(args):
    cfg, _, _, batch, seq_len = load_config(args.config, args.diverge, args.vocab_size)
    n_total = sum(math.prod(shape) for shape in parameter_shapes(cfg).values())
    config_path = os.path.relpath(args.config)
    return (f"config {config_path}: d_model {cfg.d_model}, {cfg.n_layers} layers, {cfg.n_heads}/{cfg.n_kv_heads} heads"
            f" x {cfg.resolved_head_dim}, {cfg.n_experts} experts top-{cfg.top_k} x {cfg.expert_hidden}, vocab"
            f" {cfg.vocab_size}, batch {batch} x {seq_len}\nparameters {n_total / 1e6:.2f} M total,"
            f" {active_matrix_parameters(cfg) / 1e6:.2f} M active matrix; FLOPs per token (fwd+bwd)"
            f" {flops_per_token(cfg, seq_len) / 1e6:.2f} M = 6 N_active {6 * active_matrix_parameters(cfg) / 1e6:.2f} M"
            f" + attention {(flops_per_token(cfg, seq_len) - 6 * active_matrix_parameters(cfg)) / 1e6:.2f} M")


def describe_result(r):
    threads = (f"threads {r['threads']} (torch {r['torch_threads']}, OpenBLAS {r['blas_threads']}, OMP_WAIT_POLICY"
               f" {r['wait_policy']}), " if "threads" in r else "")
    blas = f"; blas {', '.join(r['blas'])}" if "blas" in r else ""
    return (f"{threads}{r['device']}, {r['precision']}, attention {r['attention']}, experts {r['experts']}"
            f" (logits within {r['logits_difference']:.1e} of the written-out model's): step"
            f" {r['step_s'] * 1e3:.0f} ms median ({r['min_s'] * 1e3:.0f}..{r['max_s'] * 1e3:.0f}),"
            f" {r['tokens_per_s']:.0f} tokens/s, {flop_rate(r['tflops'])}{blas}")


def flop_rate(tflops):
    return f"{tflops:.1f} TFLOP/s" if tflops >= 1 else f"{tflops * 1e3:.1f} GFLOP/s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "benchmarks" / "train_step_cpu.json"))
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--experts", choices=("loop", "grouped"), help="default: grouped on CUDA, loop on the CPU")
    parser.add_argument("--threads", default="1,2", help="comma-separated CPU thread counts")
    parser.add_argument("--blas-threads", type=int, default=0, help="OpenBLAS threads (0 = as --threads)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--json", help="also write {meta, results} here")
    parser.add_argument("--diverge", default=str(REPO / "build" / "diverge"), help="resolves partial configs")
    parser.add_argument("--vocab-size", type=int, default=0, help="for a config whose model.vocab_size is 0")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.experts = args.experts or ("grouped" if args.device == "cuda" else "loop")
    if args.experts == "grouped" and not hasattr(torch, "get_autocast_dtype"):
        parser.error(f"--experts grouped needs torch 2.4 or later (this is {torch.__version__})")
    if args.worker is not None:
        print(json.dumps(cpu_worker(args)))
        return
    description = describe(args)
    print(f"torch {torch.__version__}; {description}")
    if args.device == "cuda":
        results = [time_steps(args, torch.device("cuda"))]
    else:
        results = [run_worker(args, int(threads)) for threads in args.threads.split(",")]
    for r in results:
        print(describe_result(r))
    if args.json:
        meta = {"torch": torch.__version__, "config": os.path.relpath(args.config), "model": description,
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "command": " ".join(["python3", "benchmarks/train_step_torch.py"] + sys.argv[1:])}
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
