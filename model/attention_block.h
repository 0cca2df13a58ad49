// The attention sublayer: pre-norm, q/k/v projections, optional per-head QK-norm, RoPE, causal GQA, o_proj, residual.
#pragma once

#include "engine/buffers.h"
#include "model/dims.h"
#include "model/residual.h"
#include "model/weights.h"

namespace diverge::model {

struct AttentionSettings {
  float rms_eps = 1e-6f;
  float rope_theta = 10000.0f;
  bool qk_norm = true;
};

// Saved by the forward pass of one layer.
struct AttentionActs {
  NormActs norm;  // input_layernorm
  Tensor q_raw;   // (B, T, H, D) projection before QK-norm; empty without qk_norm
  Tensor k_raw;   // (B, T, Hkv, D); empty without qk_norm
  Tensor q_rstd;  // (B, T, H); empty without qk_norm
  Tensor k_rstd;  // (B, T, Hkv); empty without qk_norm
  Tensor q;       // (B, T, H, D) normed and rotated, as attention reads it
  Tensor k;       // (B, T, Hkv, D)
  Tensor v;       // (B, T, Hkv, D)
  Tensor out;     // (B, T, H, D)
  Tensor lse;     // (B, H, T)
};

// Backward workspace, shared by all layers.
struct AttentionScratch {
  Tensor dout;    // (B, T, H, D)
  Tensor dq;      // (B, T, H, D)
  Tensor dk;      // (B, T, Hkv, D)
  Tensor dv;      // (B, T, Hkv, D)
  Tensor dq_raw;  // (B, T, H, D); empty without qk_norm
  Tensor dk_raw;  // (B, T, Hkv, D); empty without qk_norm
};

AttentionActs allocate_attention(Buffers& buffers, const Dims& d, bool qk_norm);
AttentionScratch allocate_attention_scratch(Buffers& buffers, const Dims& d, bool qk_norm);

// x_out (N, C) = x_in + attention(rmsnorm(x_in)).
void attention_forward(const AttentionSettings& s, const AttentionWeights& w, const Tensor& x_in,
                       const AttentionActs& acts, const Tensor& x_out);
// stream_grad (N, C) holds d loss / d x_out on entry and d loss / d x_in on return; dw is added to.
void attention_backward(const AttentionSettings& s, const AttentionWeights& w, const AttentionWeights& dw,
                        const Tensor& x_in, const AttentionActs& acts, const AttentionScratch& scratch,
                        const SublayerScratch& sublayer, const Tensor& stream_grad);

}  // namespace diverge::model
