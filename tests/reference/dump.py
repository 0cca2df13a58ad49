# Builds the small reference models, checks them, and dumps weights, a batch, outputs, gradients and ten AdamW steps.
"""Run: python3 tests/reference/dump.py [output dir]   (default: this script's directory)

Every case computes in float64 from float32-representable weights, so the dumped values are the exact function of
the stored float32 weights up to float64 rounding; they are stored rounded to float32 (README.md has the format).
Before writing, the script checks its own reference: autograd against central finite differences on entries of
every parameter, top-k choices far from ties at every step, the starved expert of case tied_renorm receiving no
token and a zero gradient, and the written file read back equal.
"""
import copy
import dataclasses
import json
import sys
from pathlib import Path

import numpy
import torch

from cases import CASES, OPTIM, TRAIN_STEPS, build_case, config_json
from checks import (check_finite_differences, check_round_trip, check_starved_gradients, check_topk_gap,
                    max_relative_difference, starved_expert_tokens, topk_gap)
from model import forward_losses
from safetensors_io import write_safetensors
from train_step import make_optimizer, train_step


def f32(tensor):
    return tensor.detach().to(torch.float32).numpy()


def scalar(value):
    return numpy.array([value], dtype=numpy.float32)  # (1)


def reference_outputs(case, model, tokens):
    """Weights, batch, logits, routing, loss terms and every gradient of one forward/backward."""
    model.zero_grad(set_to_none=True)
    logits, routings, losses = forward_losses(model, tokens, case.loss)
    losses.total.backward()
    check_topk_gap(case, routings, 0)
    if case.starved_expert:
        if starved_expert_tokens(case, routings):
            raise AssertionError(f"{case.name}: the starved expert {case.starved_expert} got tokens")
        check_starved_gradients(case, model)
    tensors = {name: f32(param) for name, param in model.named_parameters()}
    tensors["batch.tokens"] = tokens.to(torch.int32).numpy()
    tensors["out.logits"] = f32(logits)
    for routing in routings:
        tensors[f"out.router_probs.{routing.layer}"] = f32(routing.probs)
        tensors[f"out.topk.{routing.layer}"] = routing.topk.to(torch.int32).numpy()
    for term in ("total", "lm", "lb", "z"):
        tensors[f"loss.{term}"] = scalar(float(getattr(losses, term)))
    for name, param in model.named_parameters():
        tensors[f"grad.{name}"] = f32(param.grad)
    return tensors


@dataclasses.dataclass
class TrainingRun:
    losses: numpy.ndarray  # (TRAIN_STEPS) total loss before each update
    grad_norms: numpy.ndarray  # (TRAIN_STEPS) global gradient norm before clipping
    min_topk_gap: float
    starved_expert_tokens: list  # tokens the starved expert received at each step


def training_run(case, model, tokens):
    """TRAIN_STEPS AdamW steps on the same batch."""
    optimizer = make_optimizer(model, OPTIM)
    losses, norms, gaps, starved = [], [], [], []
    for step in range(TRAIN_STEPS):
        result = train_step(model, optimizer, tokens, case.loss, OPTIM)
        check_topk_gap(case, result.routings, step)
        losses.append(float(result.losses.total))
        norms.append(result.grad_norm)
        if case.model.top_k < case.model.n_experts:
            gaps.append(topk_gap(result.routings, case.model.top_k))
        if case.starved_expert:
            starved.append(starved_expert_tokens(case, result.routings))
    return TrainingRun(numpy.array(losses, dtype=numpy.float32), numpy.array(norms, dtype=numpy.float32),
                       min(gaps, default=None), starved)


def float32_agreement(case, model32, tokens, tensors, run):
    """How far PyTorch's own float32 run of the same weights lands from the dumped float64 values: the scale of
    disagreement an fp32 implementation with other summation orders can be expected to show."""
    model32.zero_grad(set_to_none=True)
    logits, _, losses = forward_losses(model32, tokens, case.loss)
    losses.total.backward()
    grads = [max_relative_difference(f32(p.grad), tensors[f"grad.{name}"]) for name, p in model32.named_parameters()
             if tensors[f"grad.{name}"].any()]
    terms = [max_relative_difference(scalar(float(getattr(losses, t))), tensors[f"loss.{t}"])
             for t in ("total", "lm", "lb", "z")]
    run32 = training_run(case, model32, tokens)
    return {"logits": max_relative_difference(f32(logits), tensors["out.logits"]), "loss_terms": max(terms),
            "grads": max(grads), "train_losses": float(numpy.max(numpy.abs(run32.losses / run.losses - 1)))}


def dump_case(case, out_dir):
    model, tokens = build_case(case)
    fd_error = check_finite_differences(case, model, tokens)
    tensors = reference_outputs(case, model, tokens)
    model32 = copy.deepcopy(model).float()
    run = training_run(case, model, tokens)
    tensors["train.losses"], tensors["train.grad_norms"] = run.losses, run.grad_norms
    reference = {
        "case": case.name, "description": case.description, "torch_version": torch.__version__,
        "seed": case.seed, "computed_in": "float64", "stored_as": "F32 (I32 for integer tensors)",
        "starved_expert": list(case.starved_expert) if case.starved_expert else None,
        "starved_expert_tokens_per_step": run.starved_expert_tokens if case.starved_expert else None,
        "min_topk_logit_gap": run.min_topk_gap, "max_finite_difference_error": fd_error,
        "float32_torch_max_relative_difference": float32_agreement(case, model32, tokens, tensors, run),
    }
    metadata = {"format": "diverge-reference-1", "config": json.dumps(config_json(case)),
                "reference": json.dumps(reference)}
    path = out_dir / f"case_{case.name}.safetensors"
    write_safetensors(path, tensors, metadata)
    check_round_trip(path, tensors, metadata)
    return path, reference, tensors


def main():
    torch.set_num_threads(1)
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for case in CASES:
        path, reference, tensors = dump_case(case, out_dir)
        print(f"{path.name}: {path.stat().st_size} bytes, {len(tensors)} tensors; loss {tensors['loss.total'][0]:.6f}"
              f" -> {tensors['train.losses'][-1]:.6f} in {TRAIN_STEPS} steps; grad norms"
              f" {tensors['train.grad_norms'].min():.3f}..{tensors['train.grad_norms'].max():.3f};"
              f" min top-k gap {reference['min_topk_logit_gap']:.2e};"
              f" finite differences within {reference['max_finite_difference_error']:.1e} absolute;"
              f" torch float32 vs dump: {reference['float32_torch_max_relative_difference']}")


if __name__ == "__main__":
    main()
