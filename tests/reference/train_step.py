# One training step of MODEL.md's optimiser in PyTorch: AdamW (decay on matrices only) after global gradient clipping.
import contextlib
import dataclasses

import torch

from model import forward_losses


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """The parts of the `optim` section a constant-learning-rate step needs."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    grad_clip: float  # 0 = off


def takes_weight_decay(param):
    """Matrices (embeddings, projections, experts, router) decay; norm weights, the only vectors, do not."""
    return param.dim() >= 2


def make_optimizer(model, optim, fused=False):
    """torch.optim.AdamW with two groups; a tied embedding is one parameter, so it decays once. fused: torch's
    one-kernel AdamW (CUDA), else the per-parameter loop."""
    params = list(model.parameters())
    groups = [
        {"params": [p for p in params if takes_weight_decay(p)], "weight_decay": optim.weight_decay},
        {"params": [p for p in params if not takes_weight_decay(p)], "weight_decay": 0.0},
    ]
    implementation = {"fused": True} if fused else {"foreach": False}
    return torch.optim.AdamW(groups, lr=optim.lr, betas=(optim.beta1, optim.beta2), eps=optim.eps, **implementation)


@dataclasses.dataclass
class StepResult:
    losses: object  # model.Losses, computed before the update
    routings: list  # model.Routing of each MoE layer
    grad_norm: float  # global gradient norm before clipping


def train_step(model, optimizer, tokens, loss_cfg, optim, forward_context=contextlib.nullcontext):
    """Forward, backward, clip (torch's rule: scale by grad_clip / (norm + 1e-6) when that is below 1), AdamW.
    forward_context() wraps the forward pass and the losses (the benchmarks' bf16 autocast), not the backward."""
    optimizer.zero_grad(set_to_none=False)
    with forward_context():
        _, routings, losses = forward_losses(model, tokens, loss_cfg)
    losses.total.backward()
    if optim.grad_clip > 0:
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
    else:
        grad_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    optimizer.step()
    return StepResult(losses, routings, float(grad_norm))
