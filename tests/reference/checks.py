# Self-checks of the reference: top-k margins, finite differences, the starved expert, the written file.
import numpy
import torch

from model import forward_losses
from safetensors_io import read_safetensors

# fp32 computes router logits with relative error ~1e-6; a gap of 1e-3 between the k-th and (k+1)-th logit keeps
# the C++ side's top-k choice equal to this float64 one at every dumped and trained step.
MIN_TOPK_GAP = 1e-3
# float64 central differences: truncation ~ step^2 = 1e-10, rounding ~ loss * 1e-16 / step ~ 1e-10 absolute.
FD_STEP = 1e-5
FD_ABSOLUTE_TOLERANCE = 1e-8
FD_RELATIVE_TOLERANCE = 1e-6
FD_ENTRIES_PER_PARAMETER = 2
MAX_FILE_BYTES = 1 << 20


def topk_gap(routings, k):
    """Smallest gap, over tokens and MoE layers, between the k-th and (k+1)-th router logit."""
    gaps = []
    for routing in routings:
        ordered = routing.logits.gather(1, torch.sort(-routing.logits, dim=-1, stable=True).indices)  # (N, E)
        gaps.append((ordered[:, k - 1] - ordered[:, k]).min())
    return float(torch.stack(gaps).min())


def check_topk_gap(case, routings, step):
    if case.model.top_k < case.model.n_experts:
        gap = topk_gap(routings, case.model.top_k)
        if gap < MIN_TOPK_GAP:
            raise AssertionError(f"{case.name} step {step}: top-k logit gap {gap:.2e} < {MIN_TOPK_GAP}; change seed")


def starved_expert_tokens(case, routings):
    layer, expert = case.starved_expert
    routing = next(r for r in routings if r.layer == layer)
    return int((routing.topk == expert).sum())


def check_finite_differences(case, model, tokens):
    """Autograd gradient of the total loss against central differences, on entries of every parameter."""
    generator = torch.Generator().manual_seed(case.seed)
    model.zero_grad(set_to_none=True)
    _, base_routings, losses = forward_losses(model, tokens, case.loss)
    losses.total.backward()
    worst = 0.0
    for name, param in model.named_parameters():
        for flat in torch.randint(0, param.numel(), (FD_ENTRIES_PER_PARAMETER,), generator=generator).tolist():
            index = numpy.unravel_index(flat, tuple(param.shape))
            numeric = central_difference(case, model, tokens, param, index, base_routings)
            analytic = float(param.grad[index])
            error = abs(numeric - analytic)
            if error > FD_ABSOLUTE_TOLERANCE + FD_RELATIVE_TOLERANCE * abs(analytic):
                raise AssertionError(f"{case.name}: {name}{list(index)}: autograd {analytic} vs fd {numeric}")
            worst = max(worst, error)
    return worst


def central_difference(case, model, tokens, param, index, base_routings):
    values = []
    with torch.no_grad():
        original = float(param[index])
        for shifted in (original + FD_STEP, original - FD_STEP):
            param[index] = shifted
            _, routings, losses = forward_losses(model, tokens, case.loss)
            if any(not torch.equal(r.topk, b.topk) for r, b in zip(routings, base_routings)):
                raise AssertionError(f"{case.name}: a finite-difference probe changed a top-k choice")
            values.append(float(losses.total))
        param[index] = original
    return (values[0] - values[1]) / (2 * FD_STEP)


def check_starved_gradients(case, model):
    layer, expert = case.starved_expert
    prefix = f"model.layers.{layer}.mlp.experts.{expert}."
    for name, param in model.named_parameters():
        if name.startswith(prefix) and (param.grad is None or bool(param.grad.any())):
            raise AssertionError(f"{case.name}: {name} of the starved expert has a non-zero gradient")


def max_relative_difference(values, reference):
    """max |values - reference| / max |reference|: error measured against the tensor's scale."""
    reference = numpy.asarray(reference, dtype=numpy.float64)
    scale = max(float(numpy.abs(reference).max()), numpy.finfo(numpy.float64).tiny)
    return float(numpy.abs(numpy.asarray(values, dtype=numpy.float64) - reference).max()) / scale


def check_round_trip(path, tensors, metadata):
    read_tensors, read_metadata = read_safetensors(path)
    if read_metadata != metadata or list(read_tensors) != list(tensors):
        raise AssertionError(f"{path}: header does not read back as written")
    for name, array in tensors.items():
        if read_tensors[name].dtype != array.dtype or not numpy.array_equal(read_tensors[name], array):
            raise AssertionError(f"{path}: tensor {name} does not read back as written")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise AssertionError(f"{path}: {path.stat().st_size} bytes, over {MAX_FILE_BYTES}")
