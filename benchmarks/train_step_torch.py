# Times PyTorch's CPU training step (forward + backward + clip + AdamW) of the reference model for a config JSON.
"""Usage: python3 benchmarks/train_step_torch.py [--config benchmarks/train_step_cpu.json] [--threads 1,2]
                                                 [--blas-threads N] [--warmup 2] [--steps 5]

The model is tests/reference/model.py (MODEL.md's definition) in float32, one micro-batch of random tokens
(data.micro_batch x data.seq_len), the step of tests/reference/train_step.py. Where the torch has it (2.0 and
later), attention is torch's fused F.scaled_dot_product_attention (SDPA) instead of the model's written-out
softmax(q k^T / sqrt(D)) v: the same function, which each worker checks on the initial weights before it times
anything (logits of both within 1e-4 of the largest). Each thread count runs in a fresh
process with torch.set_num_threads(n) and OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = n (or --blas-threads), because
Debian's OpenBLAS keeps its own thread pool that torch.set_num_threads does not size. OMP_WAIT_POLICY defaults
to PASSIVE (an OMP_WAIT_POLICY in the environment wins): on a machine shared with other work, spinning OpenMP
threads wait out a descheduled partner at every parallel region, which made 2 threads 5-10x slower than 1 here. Prints, per thread count, the median step time over
--steps steps after --warmup steps, tokens/s, and the achieved GFLOP/s at the model's FLOPs per token, which is
6 N_active + 12 L H D T (PaLM's count: N_active = matrix parameters a token passes through, embedding lookup
excluded; the attention term counts the full T x T score matrix, which is what PyTorch computes).
"""
import argparse
import json
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

from model import (LossConfig, ModelConfig, MoETransformer, causal_attention, config_from_dict,  # noqa: E402
                   init_parameters)
from train_step import OptimConfig, make_optimizer, train_step  # noqa: E402

SDPA = hasattr(F, "scaled_dot_product_attention")
SAME_FUNCTION_TOLERANCE = 1e-4  # max |logit difference| / max |logit| between the two attentions, in float32


def sdpa_attention(q, k, v):
    """q, k, v (B, H, T, D) -> (B, H, T, D): model.causal_attention fused (SDPA's default scale is 1/sqrt(D))."""
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def attention_difference(model, tokens):
    """max |logits - logits with written-out attention| / max |the latter| of the model on the batch's inputs."""
    written_out = MoETransformer(model.cfg)
    written_out.load_state_dict(model.state_dict())
    with torch.no_grad():
        logits, _ = model(tokens[:, :-1])
        reference, _ = written_out(tokens[:, :-1])
    return float((logits - reference).abs().max() / reference.abs().max())


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


def load_config(path):
    """-> ModelConfig, LossConfig, OptimConfig, batch size, sequence length from a Diverge config JSON."""
    config = json.loads(Path(path).read_text())
    model = config_from_dict(ModelConfig, section(config, "model", path), f"{path}: model")
    loss = config_from_dict(LossConfig, section(config, "loss", path), f"{path}: loss")
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


def time_steps(config_path, threads, warmup, steps):
    """Runs in the worker process: -> dict of measurements for one thread count."""
    torch.set_num_threads(threads)
    cfg, loss_cfg, optim, batch, seq_len = load_config(config_path)
    generator = torch.Generator().manual_seed(0)
    model = MoETransformer(cfg, sdpa_attention if SDPA else causal_attention)
    init_parameters(model, generator)
    tokens = torch.randint(0, cfg.vocab_size, (batch, seq_len + 1), generator=generator)
    difference = attention_difference(model, tokens) if SDPA else 0.0
    if difference > SAME_FUNCTION_TOLERANCE:
        raise AssertionError(f"SDPA and the written-out attention differ: {difference:.2e} of the largest logit")
    optimizer = make_optimizer(model, optim)
    seconds = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        result = train_step(model, optimizer, tokens, loss_cfg, optim)
        if step >= warmup:
            seconds.append(time.perf_counter() - start)
    step_s = statistics.median(seconds)
    tokens_per_step = batch * seq_len
    return {"threads": threads, "torch_threads": torch.get_num_threads(), "blas": loaded_blas(),
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
            "wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
            "attention": "SDPA" if SDPA else "written out", "attention_difference": difference,
            "step_s": step_s, "min_s": min(seconds), "max_s": max(seconds), "tokens_per_s": tokens_per_step / step_s,
            "gflops": flops_per_token(cfg, seq_len) * tokens_per_step / step_s / 1e9,
            "last_loss": float(result.losses.total)}


def run_worker(config_path, threads, blas_threads, warmup, steps):
    blas_threads = blas_threads or threads
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(blas_threads),
               MKL_NUM_THREADS=str(blas_threads))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    command = [sys.executable, __file__, "--config", str(config_path), "--worker", str(threads),
               "--warmup", str(warmup), "--steps", str(steps)]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def describe(config_path):
    cfg, _, _, batch, seq_len = load_config(config_path)
    n_total = sum(p.numel() for p in MoETransformer(cfg).parameters())
    return (f"config {config_path}: d_model {cfg.d_model}, {cfg.n_layers} layers, {cfg.n_heads}/{cfg.n_kv_heads} heads"
            f" x {cfg.resolved_head_dim}, {cfg.n_experts} experts top-{cfg.top_k} x {cfg.expert_hidden}, vocab"
            f" {cfg.vocab_size}, batch {batch} x {seq_len}\nparameters {n_total / 1e6:.2f} M total,"
            f" {active_matrix_parameters(cfg) / 1e6:.2f} M active matrix; FLOPs per token (fwd+bwd)"
            f" {flops_per_token(cfg, seq_len) / 1e6:.2f} M = 6 N_active {6 * active_matrix_parameters(cfg) / 1e6:.2f} M"
            f" + attention {(flops_per_token(cfg, seq_len) - 6 * active_matrix_parameters(cfg)) / 1e6:.2f} M")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "benchmarks" / "train_step_cpu.json"))
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--blas-threads", type=int, default=0, help="OpenBLAS threads (0 = as --threads)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(time_steps(args.config, args.worker, args.warmup, args.steps)))
        return
    print(f"torch {torch.__version__}; {describe(os.path.relpath(args.config))}")
    for threads in (int(value) for value in args.threads.split(",")):
        r = run_worker(args.config, threads, args.blas_threads, args.warmup, args.steps)
        print(f"threads {r['threads']} (torch {r['torch_threads']}, OpenBLAS {r['blas_threads']},"
              f" OMP_WAIT_POLICY {r['wait_policy']}, attention {r['attention']}, logits within"
              f" {r['attention_difference']:.1e} of written-out attention's): step {r['step_s'] * 1e3:.0f} ms median"
              f" ({r['min_s'] * 1e3:.0f}..{r['max_s'] * 1e3:.0f}), {r['tokens_per_s']:.0f} tokens/s,"
              f" {r['gflops']:.1f} GFLOP/s; blas {', '.join(r['blas'])}")


if __name__ == "__main__":
    main()
