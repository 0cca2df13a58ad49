# The model's configuration and parameter layout (model/MODEL.md) without PyTorch: names, shapes, order.
import dataclasses


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The `model` section of a Diverge config (field names as engine/config spells them)."""

    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int  # 0 = d_model / n_heads
    qk_norm: bool
    rope_theta: float
    rms_eps: float
    max_seq_len: int
    n_experts: int
    top_k: int
    expert_hidden: int
    n_shared_experts: int
    shared_expert_hidden: int
    first_k_dense: int
    dense_hidden: int
    renorm_topk: bool
    tied_embeddings: bool
    init_std: float

    @property
    def resolved_head_dim(self):
        return self.head_dim if self.head_dim else self.d_model // self.n_heads

    @property
    def shared_hidden(self):
        """Fs: the shared experts are one SwiGLU of this hidden size."""
        return self.shared_expert_hidden * self.n_shared_experts

    def is_moe_layer(self, layer):
        return layer >= self.first_k_dense


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """The `loss` section: coefficients of the auxiliary losses."""

    lb_coef: float
    z_coef: float


def config_from_dict(cls, values, where):
    """Builds a config dataclass from a JSON object, refusing unknown and missing keys by name."""
    names = [field.name for field in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    missing = [name for name in names if name not in values]
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}")
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}")
    return cls(**{name: values[name] for name in names})


def ffn_shapes(prefix, d_model, hidden):
    """A SwiGLU's three matrices (gate and up: (hidden, C), down: (C, hidden))."""
    return {f"{prefix}.gate_proj.weight": (hidden, d_model), f"{prefix}.up_proj.weight": (hidden, d_model),
            f"{prefix}.down_proj.weight": (d_model, hidden)}


def parameter_shapes(cfg):
    """MODEL.md's parameter list, name -> shape in its order, written out independently of the module tree (which
    must match it) and of the C++ model (whose checkpoints must match it)."""
    c, d = cfg.d_model, cfg.resolved_head_dim
    shapes = {"model.embed_tokens.weight": (cfg.vocab_size, c)}
    for layer in range(cfg.n_layers):
        prefix = f"model.layers.{layer}"
        shapes[f"{prefix}.input_layernorm.weight"] = (c,)
        shapes[f"{prefix}.self_attn.q_proj.weight"] = (cfg.n_heads * d, c)
        shapes[f"{prefix}.self_attn.k_proj.weight"] = (cfg.n_kv_heads * d, c)
        shapes[f"{prefix}.self_attn.v_proj.weight"] = (cfg.n_kv_heads * d, c)
        shapes[f"{prefix}.self_attn.o_proj.weight"] = (c, cfg.n_heads * d)
        if cfg.qk_norm:
            shapes[f"{prefix}.self_attn.q_norm.weight"] = (d,)
            shapes[f"{prefix}.self_attn.k_norm.weight"] = (d,)
        shapes[f"{prefix}.post_attention_layernorm.weight"] = (c,)
        if not cfg.is_moe_layer(layer):
            shapes.update(ffn_shapes(f"{prefix}.mlp", c, cfg.dense_hidden))
            continue
        shapes[f"{prefix}.mlp.gate.weight"] = (cfg.n_experts, c)
        for expert in range(cfg.n_experts):
            shapes.update(ffn_shapes(f"{prefix}.mlp.experts.{expert}", c, cfg.expert_hidden))
        if cfg.n_shared_experts:
            shapes.update(ffn_shapes(f"{prefix}.mlp.shared_experts", c, cfg.shared_hidden))
    shapes["model.norm.weight"] = (c,)
    if not cfg.tied_embeddings:
        shapes["lm_head.weight"] = (cfg.vocab_size, c)
    return shapes
