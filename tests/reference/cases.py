# The reference cases: model configs, batches and weights (seeded), plus the config JSON each dump carries.
import dataclasses

import torch

from model import LossConfig, ModelConfig, MoETransformer, init_parameters
from train_step import OptimConfig

OPTIM = OptimConfig(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, grad_clip=1.0)
TRAIN_STEPS = 10
# Norm weights are drawn as 1 + NORM_JITTER * N(0, 1) rather than left at 1, so that a norm weight the C++ side
# forgets to apply (or applies to the wrong axis) changes the outputs.
NORM_JITTER = 0.1
# Router logit of the starved expert for every token of the dumped batch: far below the others (about N(0, 0.8)).
# Only the dumped step is starved: AdamW at lr 1e-2 moves the layer's input enough that the expert is routed to
# again after a step or a few (the metadata says when), which the training losses then also cover.
STARVED_LOGIT = -8.0


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    description: str
    model: ModelConfig
    loss: LossConfig
    batch_size: int
    seq_len: int
    seed: int
    starved_expert: tuple = None  # (layer, expert) that no token may route to


BASE_MODEL = ModelConfig(
    vocab_size=97, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=16, qk_norm=True, rope_theta=10000.0,
    rms_eps=1e-6, max_seq_len=64, n_experts=8, top_k=2, expert_hidden=16, n_shared_experts=1,
    shared_expert_hidden=32, first_k_dense=1, dense_hidden=64, renorm_topk=False, tied_embeddings=False,
    init_std=0.1)

CASES = [
    Case("dense_shared",
         "qk_norm, GQA 4/2, first layer dense, 8 experts top-2 plus one shared expert, untied, no top-k renorm",
         BASE_MODEL, LossConfig(lb_coef=0.01, z_coef=0.001), batch_size=2, seq_len=16, seed=15),
    Case("tied_renorm",
         "tied embeddings, no shared expert, top-k renorm, no qk_norm, MQA 4/1 with head_dim 8 (H*D != d_model), "
         "both layers MoE with 4 experts top-2, expert 2 of layer 1 receives no token",
         dataclasses.replace(BASE_MODEL, vocab_size=89, n_kv_heads=1, head_dim=8, qk_norm=False, n_experts=4,
                             n_shared_experts=0, shared_expert_hidden=0, first_k_dense=0, renorm_topk=True,
                             tied_embeddings=True),
         LossConfig(lb_coef=0.01, z_coef=0.001), batch_size=3, seq_len=12, seed=9, starved_expert=(1, 2)),
]


def config_json(case):
    """The full config as engine/config's sections spell it, so the C++ side can parse it as a run config."""
    return {
        "model": dataclasses.asdict(case.model),
        "loss": dataclasses.asdict(case.loss),
        "optim": {**dataclasses.asdict(OPTIM), "schedule": "constant", "warmup_steps": 0, "no_decay": True},
        "data": {"seq_len": case.seq_len, "micro_batch": case.batch_size},
        "train": {"steps": TRAIN_STEPS},
    }


def round_to_float32(model):
    """The C++ model holds float32 weights: make the float64 reference compute with exactly those values."""
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(param.float().double())


def moe_input(model, layer, inputs):
    """h (N, C): what the router of `layer` sees for these inputs."""
    captured = []
    hook = model.model.layers[layer].mlp.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
    with torch.no_grad():
        model(inputs)
    hook.remove()
    return captured[0]


def starve_expert(model, layer, expert, inputs):
    """Sets the router row of `expert` to the least-norm w with h_t . w = STARVED_LOGIT for every token t (N <= C,
    so the system is solvable): a constant row would not do, since the sign of sum_c h_tc varies with t."""
    h = moe_input(model, layer, inputs)  # (N, C)
    if h.shape[0] > h.shape[1]:
        raise ValueError(f"starving an expert needs N <= d_model, got N={h.shape[0]}")
    row = torch.linalg.pinv(h) @ torch.full((h.shape[0],), STARVED_LOGIT, dtype=h.dtype)  # (C)
    with torch.no_grad():
        model.model.layers[layer].mlp.gate.weight[expert].copy_(row.float().double())


def init_model(case, generator):
    """The float64 model with float32-representable weights: MODEL.md's init, then jittered norm weights."""
    model = MoETransformer(case.model).double()
    init_parameters(model, generator)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 1:
                param.add_(NORM_JITTER * torch.randn(param.shape, generator=generator, dtype=torch.float64))
    round_to_float32(model)
    return model


def build_case(case):
    """-> (model, tokens (B, T+1)), both from the case's seed; the starved expert is fitted to these tokens."""
    generator = torch.Generator().manual_seed(case.seed)
    model = init_model(case, generator)
    tokens = torch.randint(0, case.model.vocab_size, (case.batch_size, case.seq_len + 1), generator=generator)
    if case.starved_expert:
        starve_expert(model, *case.starved_expert, tokens[:, :-1])
    return model, tokens
