# The routed experts' SwiGLU as PyTorch users run it: one grouped matrix product per projection, rows sorted by expert.
"""Shared by kernel_lab_torch.py (the expert kernels alone) and train_step_torch.py (inside the reference model).

Weights are stacked per expert the way nn.Linear stores them: gate_up (E, 2F, C) is each expert's gate rows then
its up rows, down (E, C, F). Rows arrive sorted by expert; offs (E) int32 holds each expert's end row (cumulative
counts), the layout torch._grouped_mm takes. Where _grouped_mm cannot run (older torch, a device or dtype it does
not support), the same products are taken one expert at a time.
"""
import torch
import torch.nn.functional as F

GROUPED = "torch _grouped_mm"
LOOP = "torch per-expert loop"


def grouped_mm_runs(device, dtype):
    """Whether torch._grouped_mm multiplies (rows, K) by (E, K, N) with offsets on this device in this dtype."""
    if not hasattr(torch, "_grouped_mm"):
        return False
    rows = torch.zeros(16, 16, device=device, dtype=dtype)
    weights = torch.zeros(2, 16, 16, device=device, dtype=dtype)
    offs = torch.tensor([8, 16], device=device, dtype=torch.int32)
    try:
        torch._grouped_mm(rows, weights, offs=offs)
    except (RuntimeError, NotImplementedError):
        return False
    return True


def expert_matmul(grouped):
    """-> mm(rows (M, K), weights (E, N, K), offs (E)) -> (M, N): rows of expert e times weights[e]^T."""
    if grouped:
        return lambda rows, weights, offs: torch._grouped_mm(rows, weights.transpose(-2, -1), offs=offs)
    return loop_matmul


def loop_matmul(rows, weights, offs):
    """_grouped_mm's product one expert at a time: rows (M, K), weights (E, N, K), offs (E) -> (M, N)."""
    starts = [0] + offs.tolist()[:-1]
    return torch.cat([rows[start:end] @ weights[e].T for e, (start, end) in enumerate(zip(starts, offs.tolist()))])


def swiglu(rows, project_up, project_down):
    """rows (M, C) -> (M, C): project_down(silu(gate) * up), gate and up the halves of project_up(rows) (M, 2F)."""
    gate, up = project_up(rows).chunk(2, dim=-1)  # (M, F) each
    return project_down(F.silu(gate) * up)


def experts_swiglu(mm, rows, gate_up, down, offs):
    """rows (M, C) sorted by expert -> (M, C): each row through its expert's SwiGLU."""
    return swiglu(rows, lambda x: mm(x, gate_up, offs), lambda x: mm(x, down, offs))


def end_offsets(counts):
    """Rows per expert (E) -> each expert's end row (E) int32, as _grouped_mm's offs."""
    return counts.cumsum(0).to(torch.int32)
