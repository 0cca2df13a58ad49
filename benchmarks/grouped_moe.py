# The reference model's MoE layer with its routed experts as grouped matrix products over expert-sorted rows.
"""GroupedMoE computes what model.MoE computes (same router, slot weights and shared experts) with the experts'
weights stacked (grouped_experts.py's layout) instead of one nn.Linear trio per expert: the loop over experts
becomes two grouped products. with_grouped_experts swaps it into a built model, copying the weights, so both
forms can be compared on the same initial weights before anything is timed.
"""
import torch
from torch import nn

from grouped_experts import end_offsets, experts_swiglu
from model import MoE


class GroupedMoE(MoE):
    def __init__(self, moe, mm):
        """moe: a model.MoE whose weights are copied; mm: grouped_experts.expert_matmul's product."""
        nn.Module.__init__(self)
        self.top_k, self.renorm_topk, self.mm = moe.top_k, moe.renorm_topk, mm
        self.gate, self.shared_experts = moe.gate, moe.shared_experts
        with torch.no_grad():
            self.gate_up = nn.Parameter(torch.stack(  # (E, 2F, C)
                [torch.cat([e.gate_proj.weight, e.up_proj.weight]) for e in moe.experts]))
            self.down = nn.Parameter(torch.stack([e.down_proj.weight for e in moe.experts]))  # (E, C, F)

    def routed_experts(self, h, routing, weights):
        """h (N, C), weights (N, k) -> (N, C): the slots sorted by expert, through the grouped SwiGLU, summed back."""
        experts = routing.topk.flatten()  # (N k)
        order = torch.argsort(experts, stable=True)  # (N k) slots in expert order
        tokens = order // self.top_k  # (N k) the token of each sorted slot
        offs = end_offsets(torch.bincount(experts, minlength=self.down.shape[0]))  # (E)
        dtype = compute_dtype(h)
        y = experts_swiglu(self.mm, h[tokens].to(dtype), self.gate_up.to(dtype), self.down.to(dtype), offs)  # (N k, C)
        return torch.zeros_like(h).index_add(0, tokens, weights.flatten()[order, None] * y.to(h.dtype))


def compute_dtype(x):
    """The dtype autocast would run a matrix product of x in: grouped products are not on autocast's lists."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype


def with_grouped_experts(model, mm):
    """Replaces every MoE layer of a built model.MoETransformer by a GroupedMoE holding copies of its weights."""
    for layer in model.model.layers:
        if isinstance(layer.mlp, MoE):
            layer.mlp = GroupedMoE(layer.mlp, mm)
    return model
