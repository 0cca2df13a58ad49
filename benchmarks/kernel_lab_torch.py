# The kernel lab's PyTorch side: what a PyTorch user runs for each of our kernels, timed on the lab's shapes.
"""Usage: kernel_lab_torch.py [--device cuda|cpu] [--shapes full|tiny] [--warmup 5] [--reps 20] [--json FILE]

Reads benchmarks/kernel_lab_shapes.json (--shapes tiny: its "tiny" section, small enough for a CPU smoke test),
times each kernel's PyTorch counterparts and prints one row per (kernel, shape, impl); --json writes
{"meta": {...}, "rows": [...]} for kernel_lab_table.py. A row is {"kernel", "shape", "impl", "seconds" (median),
"work", "unit", "rate"}, or, where an implementation refuses the shape, "error" (its reason) instead of
"seconds" and "rate". benchmarks/README.md lists the kernels, their shape keys and work formulas.
"""
import argparse
import datetime
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from grouped_experts import GROUPED, LOOP, end_offsets, expert_matmul, experts_swiglu, grouped_mm_runs, swiglu

SHAPES = Path(__file__).resolve().parent / "kernel_lab_shapes.json"
ATTENTION_BACKENDS = (("torch sdpa cudnn", SDPBackend.CUDNN_ATTENTION),
                      ("torch sdpa flash", SDPBackend.FLASH_ATTENTION))
BF16 = torch.bfloat16
RMS_EPS = 1e-6
TFLOPS, GBPS = "TFLOP/s", "GB/s"


class Timer:
    """Median seconds of a callable after warmup: CUDA events around each rep on a GPU, perf_counter on the CPU."""

    def __init__(self, device, warmup, reps):
        self.device, self.warmup, self.reps = device, warmup, reps

    def median(self, run):
        for _ in range(self.warmup):
            run()
        return statistics.median(self.cuda_seconds(run) if self.device.type == "cuda" else self.cpu_seconds(run))

    def cuda_seconds(self, run):
        pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(self.reps)]
        for start, end in pairs:
            start.record()
            run()
            end.record()
        torch.cuda.synchronize()
        return [start.elapsed_time(end) / 1e3 for start, end in pairs]

    def cpu_seconds(self, run):
        seconds = []
        for _ in range(self.reps):
            start = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - start)
        return seconds


def row(kernel, shape, impl, work, unit, seconds):
    scale = 1e12 if unit == TFLOPS else 1e9
    return {"kernel": kernel, "shape": shape, "impl": impl, "seconds": seconds, "work": work, "unit": unit,
            "rate": work / seconds / scale}


def error_row(kernel, shape, impl, work, unit, reason):
    return {"kernel": kernel, "shape": shape, "impl": impl, "work": work, "unit": unit, "error": reason}


def refusal(run):
    """Runs once: -> (result, None), or (None, why) where the backend refuses, with the warnings torch gave why."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return run(), None
        except RuntimeError as error:
            return None, "; ".join([str(w.message) for w in caught] + [str(error)])


def measured_row(kernel, shape, impl, work, unit, run, timer):
    """The row of run's median time, or an error row where run refuses (tried once before timing)."""
    _, why = refusal(run)
    if why is not None:
        return error_row(kernel, shape, impl, work, unit, why)
    return row(kernel, shape, impl, work, unit, timer.median(run))


def forward_backward_rows(kernel, shape, impl, forward_flops, backward_flops, forward, inputs, timer):
    """Rows {kernel}_forward and {kernel}_backward: forward as it runs, backward as torch.autograd.grad of a fixed
    dout with respect to inputs through the retained graph of one forward."""
    out, why = refusal(forward)
    if why is not None:
        return [error_row(f"{kernel}_forward", shape, impl, forward_flops, TFLOPS, why),
                error_row(f"{kernel}_backward", shape, impl, backward_flops, TFLOPS, why)]
    dout = torch.randn_like(out)
    return [measured_row(f"{kernel}_forward", shape, impl, forward_flops, TFLOPS, forward, timer),
            measured_row(f"{kernel}_backward", shape, impl, backward_flops, TFLOPS,
                         lambda: torch.autograd.grad(out, inputs, dout, retain_graph=True), timer)]


def attention_rows(shape, device, timer):
    batch, seq, heads, kv_heads, head_dim = (shape[k] for k in ("batch", "seq", "heads", "kv_heads", "head_dim"))
    key = f"B{batch} T{seq} H{heads}/{kv_heads} D{head_dim}"
    forward_flops = 2 * batch * heads * seq * seq * head_dim  # causal: half of the full 4 B H T^2 D
    q = torch.randn(batch, heads, seq, head_dim, device=device, dtype=BF16, requires_grad=True)  # (B, H, T, D)
    k, v = (torch.randn(batch, kv_heads, seq, head_dim, device=device, dtype=BF16, requires_grad=True)
            for _ in range(2))  # (B, Hkv, T, D)
    gqa = {"enable_gqa": True} if kv_heads < heads else {}
    rows = []
    for impl, backend in ATTENTION_BACKENDS:
        def forward():
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q, k, v, is_causal=True, **gqa)  # (B, H, T, D)
        rows += forward_backward_rows("attention", key, impl, forward_flops, 2.5 * forward_flops, forward, (q, k, v),
                                      timer)
    return rows


def rows_per_expert(rows, experts):
    """The lab's routing: rows split as evenly as possible, expert e gets rows // E + (e < rows % E)."""
    return torch.tensor([rows // experts + (e < rows % experts) for e in range(experts)])


def expert_rows(shape, device, timer):
    tokens, dim, experts, top_k, hidden = (shape[k] for k in ("tokens", "dim", "experts", "top_k", "hidden"))
    key = f"T{tokens} C{dim} E{experts} k{top_k} F{hidden}"
    rows = tokens * top_k
    forward_flops = 2 * rows * dim * hidden * 3
    offs = end_offsets(rows_per_expert(rows, experts)).to(device)  # (E)
    x = torch.randn(rows, dim, device=device, dtype=BF16, requires_grad=True)  # (rows, C) sorted by expert
    gate_up = (torch.randn(experts, 2 * hidden, dim, device=device, dtype=BF16) * dim ** -0.5).requires_grad_()
    down = (torch.randn(experts, dim, hidden, device=device, dtype=BF16) * hidden ** -0.5).requires_grad_()
    # The cuBLAS line: the same FLOPs as one expert holding every row, [rows, C] x [C, 2F] then [rows, F] x [F, C].
    dense_up, dense_down = (w[0].detach().clone().requires_grad_() for w in (gate_up, down))  # (2F, C), (C, F)
    grouped = grouped_mm_runs(device, BF16)
    mm = expert_matmul(grouped)
    candidates = ((GROUPED if grouped else LOOP, (gate_up, down), lambda: experts_swiglu(mm, x, gate_up, down, offs)),
                  ("torch dense mm", (dense_up, dense_down),
                   lambda: swiglu(x, lambda a: F.linear(a, dense_up), lambda a: F.linear(a, dense_down))))
    return [r for impl, weights, forward in candidates
            for r in forward_backward_rows("expert", key, impl, forward_flops, 2 * forward_flops, forward,
                                           (x, *weights), timer)]


def row_kernel_rows(shape, device, timer):
    tokens, dim, vocab = shape["tokens"], shape["dim"], shape["vocab"]
    x = torch.randn(tokens, dim, device=device, dtype=BF16)  # (T, C)
    weight = torch.randn(dim, device=device, dtype=BF16)  # (C)
    logits = torch.randn(tokens, vocab, device=device, dtype=torch.float32)  # (T, V): fp32, as autocast takes it
    targets = torch.randint(0, vocab, (tokens,), device=device)  # (T)
    return [measured_row("rmsnorm_forward", f"T{tokens} C{dim}", "torch rms_norm", 2 * tokens * dim * 2 + dim * 2,
                         GBPS, lambda: F.rms_norm(x, (dim,), weight, eps=RMS_EPS), timer),
            measured_row("cross_entropy_forward", f"T{tokens} V{vocab}", "torch cross_entropy", tokens * vocab * 4,
                         GBPS, lambda: F.cross_entropy(logits, targets), timer)]


def optimizer_rows(shape, device, timer):
    parameters = shape["parameters"]
    param = torch.nn.Parameter(torch.randn(parameters, device=device))  # (P) fp32
    param.grad = torch.randn_like(param)
    fused = device.type == "cuda"
    optimizer = torch.optim.AdamW([param], lr=1e-4, **({"fused": True} if fused else {"foreach": True}))
    impl = "torch AdamW fused" if fused else "torch AdamW foreach"
    # fp32 param read + write, grad read, m and v read + write: 7 x 4 bytes per parameter.
    return [measured_row("adamw_step", f"P{parameters}", impl, 28 * parameters, GBPS, optimizer.step, timer)]


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "CPU")
    return f"{model} ({torch.get_num_threads()} threads)"


def meta(args, device):
    now = datetime.datetime.now(datetime.timezone.utc)
    return {"side": "torch", "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
            "device": device_name(device), "date": now.isoformat(timespec="seconds"),
            "command": " ".join(["python3", "benchmarks/kernel_lab_torch.py"] + sys.argv[1:]),
            "shapes": args.shapes, "warmup": args.warmup, "reps": args.reps}


def lab_shapes(which):
    shapes = json.loads(SHAPES.read_text())
    return shapes["tiny"] if which == "tiny" else shapes


def run_lab(shapes, device, timer):
    """-> every row, printed as it is measured."""
    benches = ((attention_rows, "attention"), (expert_rows, "experts"), (row_kernel_rows, "rows"),
               (optimizer_rows, "optimizer"))
    rows = []
    for bench, section in benches:
        for shape in shapes[section]:
            for r in bench(shape, device, timer):
                print(format_row(r), flush=True)
                rows.append(r)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


def format_row(r):
    measured = f"{r['seconds'] * 1e3:10.4g} ms {r['rate']:10.4g} {r['unit']}" if "rate" in r else f"error: {r['error']}"
    return f"{r['kernel']:22} {r['shape']:30} {r['impl']:22} {measured}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--shapes", choices=("full", "tiny"), default="full")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--json", help="write {meta, rows} here")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    header = meta(args, device)
    print(f"torch {header['torch']} on {header['device']}, {args.shapes} shapes, median of {args.reps} after"
          f" {args.warmup} warmup")
    rows = run_lab(lab_shapes(args.shapes), device, Timer(device, args.warmup, args.reps))
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": header, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
