# The MoE transformer of model/MODEL.md in PyTorch (no transformers library): the reference the C++ model must match.
"""Module tree whose state_dict names are exactly MODEL.md's (Hugging Face Qwen3-MoE names), the forward pass and
the loss terms. Every function works in the dtype of the parameters (the dump runs it in float64); the router runs
in at least float32 whatever that dtype is, as the engine's router does.
"""
import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from model_layout import LossConfig, ModelConfig, config_from_dict, parameter_shapes  # noqa: F401 (re-exported)


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


def rope_tables(seq_len, head_dim, theta, dtype):
    """cos, sin (T, D) for half-split RoPE: inv_freq_i = theta^(-2i/D), angle = position * inv_freq."""
    inv_freq = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (D/2)
    angles = torch.arange(seq_len, dtype=torch.float64)[:, None] * inv_freq[None, :]  # (T, D/2)
    angles = torch.cat([angles, angles], dim=-1)  # (T, D)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x, cos, sin):
    """x (B, T, heads, D): rotate_half pairs element i with element i + D/2."""
    first, second = x.chunk(2, dim=-1)
    rotated = torch.cat([-second, first], dim=-1)
    return x * cos[None, :, None, :] + rotated * sin[None, :, None, :]


def causal_attention(q, k, v):
    """q, k, v (B, H, T, D) -> (B, H, T, D): softmax(q k^T / sqrt(D), future masked) v, written out."""
    seq_len, head_dim = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim)  # (B, H, T, T)
    future = torch.ones(seq_len, seq_len, dtype=torch.bool, device=q.device).triu(1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1) @ v


class Attention(nn.Module):
    """attend: the causal attention of (B, H, T, D) q, k, v; benchmarks pass a fused one of the same function."""

    def __init__(self, cfg, attend):
        super().__init__()
        head_dim = cfg.resolved_head_dim
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, head_dim
        self.attend = attend
        self.q_proj = nn.Linear(cfg.d_model, cfg.n_heads * head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.n_heads * head_dim, cfg.d_model, bias=False)
        self.q_norm = RMSNorm(head_dim, cfg.rms_eps) if cfg.qk_norm else None
        self.k_norm = RMSNorm(head_dim, cfg.rms_eps) if cfg.qk_norm else None

    def forward(self, h, cos, sin):
        """h (B, T, C) -> (B, T, C); causal over the whole packed sequence."""
        batch, seq_len, _ = h.shape
        q = self.q_proj(h).view(batch, seq_len, self.n_heads, self.head_dim)
        k = self.k_proj(h).view(batch, seq_len, self.n_kv_heads, self.head_dim)
        v = self.v_proj(h).view(batch, seq_len, self.n_kv_heads, self.head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        # Query head h reads KV head h / (H / Hkv): repeat each KV head for its group of query heads.
        group = self.n_heads // self.n_kv_heads
        q = q.transpose(1, 2)  # (B, H, T, D)
        k = k.transpose(1, 2).repeat_interleave(group, dim=1)  # (B, H, T, D)
        v = v.transpose(1, 2).repeat_interleave(group, dim=1)  # (B, H, T, D)
        attention = self.attend(q, k, v)  # (B, H, T, D)
        return self.o_proj(attention.transpose(1, 2).reshape(batch, seq_len, self.n_heads * self.head_dim))


class SwiGLU(nn.Module):
    """swiglu_ffn(h) = (silu(h Wg^T) * (h Wu^T)) Wd^T: dense layers, each routed expert, the shared experts."""

    def __init__(self, d_model, hidden):
        super().__init__()
        self.gate_proj = nn.Linear(d_model, hidden, bias=False)
        self.up_proj = nn.Linear(d_model, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d_model, bias=False)

    def forward(self, h):
        return self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


@dataclasses.dataclass
class Routing:
    """One MoE layer's routing of N tokens."""

    layer: int
    logits: torch.Tensor  # (N, E) router logits z, router dtype
    probs: torch.Tensor  # (N, E) dense softmax p
    topk: torch.Tensor  # (N, k) chosen experts, decreasing p, ties to the lower index


def top_k_stable(probs, k):
    """The k largest entries of each row in decreasing order, ties broken towards the lower index.

    torch.topk promises nothing about ties; a stable ascending sort of -p keeps equal entries in index order.
    """
    return torch.sort(-probs.detach(), dim=-1, stable=True).indices[:, :k]


class MoE(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.top_k, self.renorm_topk = cfg.top_k, cfg.renorm_topk
        self.gate = nn.Linear(cfg.d_model, cfg.n_experts, bias=False)
        self.experts = nn.ModuleList(SwiGLU(cfg.d_model, cfg.expert_hidden) for _ in range(cfg.n_experts))
        self.shared_experts = SwiGLU(cfg.d_model, cfg.shared_hidden) if cfg.n_shared_experts else None

    def route(self, h, layer):
        """h (N, C) -> Routing; the router computes in at least float32, also under autocast."""
        router_dtype = torch.promote_types(h.dtype, torch.float32)
        with torch.autocast(h.device.type, enabled=False):
            logits = F.linear(h.to(router_dtype), self.gate.weight.to(router_dtype))  # (N, E)
        probs = logits.softmax(dim=-1)  # (N, E)
        return Routing(layer, logits, probs, top_k_stable(probs, self.top_k))

    def slot_weights(self, routing, dtype):
        """-> (N, k): the probability of each chosen expert, renormalised over the k when renorm_topk."""
        weights = routing.probs.gather(1, routing.topk)  # (N, k)
        if self.renorm_topk:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        return weights.to(dtype)

    def routed_experts(self, h, routing, weights):
        """h (N, C), weights (N, k) -> (N, C): sum over slots of weight * chosen expert(h). Every expert runs, also
        on zero tokens, so its gradient is a zero tensor."""
        out = torch.zeros_like(h)  # (N, C)
        for expert_index, expert in enumerate(self.experts):
            rows, slots = (routing.topk == expert_index).nonzero(as_tuple=True)
            out = out.index_add(0, rows, weights[rows, slots, None] * expert(h[rows]))
        return out

    def forward(self, h, layer):
        """h (N, C) -> (N, C), Routing."""
        routing = self.route(h, layer)
        out = self.routed_experts(h, routing, self.slot_weights(routing, h.dtype))
        if self.shared_experts is not None:
            out = out + self.shared_experts(h)
        return out, routing


class DecoderLayer(nn.Module):
    def __init__(self, cfg, layer, attend):
        super().__init__()
        self.layer = layer
        self.input_layernorm = RMSNorm(cfg.d_model, cfg.rms_eps)
        self.self_attn = Attention(cfg, attend)
        self.post_attention_layernorm = RMSNorm(cfg.d_model, cfg.rms_eps)
        self.mlp = MoE(cfg) if cfg.is_moe_layer(layer) else SwiGLU(cfg.d_model, cfg.dense_hidden)

    def forward(self, x, cos, sin):
        """x (B, T, C) -> (B, T, C), Routing or None for a dense layer."""
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        h = self.post_attention_layernorm(x).reshape(-1, x.shape[-1])  # (N, C)
        if isinstance(self.mlp, MoE):
            y, routing = self.mlp(h, self.layer)
        else:
            y, routing = self.mlp(h), None
        return x + y.view_as(x), routing


class Backbone(nn.Module):
    """The `model.` prefix of the state dict."""

    def __init__(self, cfg, attend):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(DecoderLayer(cfg, layer, attend) for layer in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.rms_eps)


class MoETransformer(nn.Module):
    def __init__(self, cfg, attend=causal_attention):
        super().__init__()
        self.cfg = cfg
        self.model = Backbone(cfg, attend)
        self.lm_head = None if cfg.tied_embeddings else nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        layout = [(name, tuple(tensor.shape)) for name, tensor in self.state_dict().items()]
        if layout != list(parameter_shapes(cfg).items()):
            raise AssertionError(f"module tree names or shapes differ from MODEL.md's list: {layout}")

    def output_weight(self):
        return self.model.embed_tokens.weight if self.lm_head is None else self.lm_head.weight

    def forward(self, inputs):
        """inputs (B, T) token ids -> logits (N, V), [Routing of each MoE layer]."""
        cos, sin = rope_tables(inputs.shape[1], self.cfg.resolved_head_dim, self.cfg.rope_theta,
                               self.output_weight().dtype)
        x = self.model.embed_tokens(inputs)  # (B, T, C)
        routings = []
        for layer in self.model.layers:
            x, routing = layer(x, cos, sin)
            if routing is not None:
                routings.append(routing)
        h = self.model.norm(x).reshape(-1, x.shape[-1])  # (N, C)
        return F.linear(h, self.output_weight()), routings


def load_balance_loss(routing, n_experts):
    """LB_l = E sum_e f_e P_e; f_e = share of the N k routing slots taken by e (no gradient), P_e = mean p_e."""
    slots = routing.topk.numel()
    counts = torch.bincount(routing.topk.flatten(), minlength=n_experts)  # (E)
    fraction = counts.to(routing.probs.dtype) / slots
    return n_experts * (fraction * routing.probs.mean(dim=0)).sum()


def z_loss(routing):
    """Z_l = mean over tokens of logsumexp(z_t)^2."""
    return torch.logsumexp(routing.logits, dim=-1).pow(2).mean()


@dataclasses.dataclass
class Losses:
    total: torch.Tensor
    lm: torch.Tensor
    lb: torch.Tensor
    z: torch.Tensor


def compute_losses(logits, routings, targets, cfg, loss_cfg):
    """L = L_LM + lb_coef L_LB + z_coef L_Z; L_LB and L_Z are means over the MoE layers (0 without any)."""
    lm = F.cross_entropy(logits, targets.reshape(-1))
    zero = logits.new_zeros(())
    lb = torch.stack([load_balance_loss(r, cfg.n_experts) for r in routings]).mean() if routings else zero
    z = torch.stack([z_loss(r) for r in routings]).mean() if routings else zero
    lb, z = lb.to(lm.dtype), z.to(lm.dtype)
    return Losses(lm + loss_cfg.lb_coef * lb + loss_cfg.z_coef * z, lm, lb, z)


def forward_losses(model, tokens, loss_cfg):
    """tokens (B, T+1): inputs are columns 0..T-1, targets 1..T. Returns logits (N, V), routings, Losses."""
    logits, routings = model(tokens[:, :-1])
    return logits, routings, compute_losses(logits, routings, tokens[:, 1:], model.cfg, loss_cfg)


def is_residual_output(name):
    return name.endswith("o_proj.weight") or name.endswith("down_proj.weight")


def init_parameters(model, generator):
    """MODEL.md's distributions drawn from a torch generator: matrices ~ N(0, init_std), residual output projections
    ~ N(0, init_std / sqrt(2 L)), norm weights 1. (The engine's counter-based sampler is not reproduced: the C++ side
    loads these weights, it does not re-draw them.)"""
    cfg = model.cfg
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 1:
                param.fill_(1.0)
                continue
            std = cfg.init_std / math.sqrt(2 * cfg.n_layers) if is_residual_output(name) else cfg.init_std
            param.copy_(torch.randn(param.shape, generator=generator, dtype=torch.float64) * std)
