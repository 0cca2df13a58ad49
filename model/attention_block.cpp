// Attention sublayer forward and backward, as compositions of the matmul, rmsnorm, rope and attention ops.
#include "model/attention_block.h"

#include "kernels/ops.h"

namespace diverge::model {

namespace {

using ops::Write;

// (B, T, heads, D) seen as the (N, heads * D) rows a projection writes.
Tensor as_rows(const Tensor& heads) { return heads.reshape({heads.dim(0) * heads.dim(1), heads.dim(2) * heads.dim(3)}); }

// Projection of h into per-head vectors, QK-normed (when norm_weight is given) and rotated in place.
void project_heads(const Tensor& h, const Tensor& weight, const Tensor& raw, const Tensor& norm_weight,
                   const Tensor& rstd, const Tensor& out, const AttentionSettings& s) {
  if (norm_weight.empty()) {
    ops::matmul(h, weight, as_rows(out), false, true);
  } else {
    ops::matmul(h, weight, as_rows(raw), false, true);
    ops::rmsnorm(raw, norm_weight, out, rstd, s.rms_eps);
  }
  ops::rope(out, out, s.rope_theta);
}

// Back through project_heads: d_heads (rotated space, overwritten) to dh (N, C) with the given write mode.
void project_heads_backward(const Tensor& d_heads, const Tensor& h, const Tensor& weight, const Tensor& dweight,
                            const Tensor& raw, const Tensor& norm_weight, const Tensor& dnorm_weight,
                            const Tensor& rstd, const Tensor& d_raw, const Tensor& dh, Write write_dh,
                            const AttentionSettings& s) {
  ops::rope_backward(d_heads, d_heads, s.rope_theta);
  Tensor d_projection = d_heads;
  if (!norm_weight.empty()) {
    ops::rmsnorm_backward(d_heads, raw, norm_weight, rstd, d_raw, dnorm_weight);
    d_projection = d_raw;
  }
  ops::matmul_backward(as_rows(d_projection), h, weight, dh, dweight, false, true, write_dh, Write::accumulate);
}

}  // namespace

AttentionActs allocate_attention(Buffers& buffers, const Dims& d, bool qk_norm) {
  AttentionActs a;
  a.norm = allocate_norm(buffers, d);
  if (qk_norm) {
    a.q_raw = buffers.f32({d.batch, d.seq, d.heads, d.head_dim});
    a.k_raw = buffers.f32({d.batch, d.seq, d.kv_heads, d.head_dim});
    a.q_rstd = buffers.f32({d.batch, d.seq, d.heads});
    a.k_rstd = buffers.f32({d.batch, d.seq, d.kv_heads});
  }
  a.q = buffers.f32({d.batch, d.seq, d.heads, d.head_dim});
  a.k = buffers.f32({d.batch, d.seq, d.kv_heads, d.head_dim});
  a.v = buffers.f32({d.batch, d.seq, d.kv_heads, d.head_dim});
  a.out = buffers.f32({d.batch, d.seq, d.heads, d.head_dim});
  a.lse = buffers.f32({d.batch, d.heads, d.seq});
  return a;
}

AttentionScratch allocate_attention_scratch(Buffers& buffers, const Dims& d, bool qk_norm) {
  AttentionScratch s;
  s.dout = buffers.f32({d.batch, d.seq, d.heads, d.head_dim});
  s.dq = buffers.f32({d.batch, d.seq, d.heads, d.head_dim});
  s.dk = buffers.f32({d.batch, d.seq, d.kv_heads, d.head_dim});
  s.dv = buffers.f32({d.batch, d.seq, d.kv_heads, d.head_dim});
  if (qk_norm) {
    s.dq_raw = buffers.f32({d.batch, d.seq, d.heads, d.head_dim});
    s.dk_raw = buffers.f32({d.batch, d.seq, d.kv_heads, d.head_dim});
  }
  return s;
}

void attention_forward(const AttentionSettings& s, const AttentionWeights& w, const Tensor& x_in,
                       const AttentionActs& acts, const Residual& residual, const Tensor& x_out) {
  norm_forward(x_in, w.input_norm, s.rms_eps, acts.norm);
  const Tensor& h = acts.norm.out;
  project_heads(h, w.q, acts.q_raw, w.q_norm, acts.q_rstd, acts.q, s);
  project_heads(h, w.k, acts.k_raw, w.k_norm, acts.k_rstd, acts.k, s);
  ops::matmul(h, w.v, as_rows(acts.v), false, true);
  ops::attention(acts.q, acts.k, acts.v, acts.out, acts.lse);
  residual.copy(x_in, x_out);
  ops::matmul(as_rows(acts.out), w.o, x_out, false, true, Write::accumulate);
}

void attention_backward(const AttentionSettings& s, const AttentionWeights& w, const AttentionWeights& dw,
                        const Tensor& x_in, const AttentionActs& acts, const AttentionScratch& scratch,
                        const SublayerScratch& sublayer, const Residual& residual, const Tensor& stream_grad) {
  ops::matmul_backward(stream_grad, as_rows(acts.out), w.o, as_rows(scratch.dout), dw.o, false, true,
                       Write::overwrite, Write::accumulate);
  ops::attention_backward(acts.q, acts.k, acts.v, acts.out, acts.lse, scratch.dout, scratch.dq, scratch.dk,
                          scratch.dv);
  const Tensor& h = acts.norm.out;
  project_heads_backward(scratch.dq, h, w.q, dw.q, acts.q_raw, w.q_norm, dw.q_norm, acts.q_rstd, scratch.dq_raw,
                         sublayer.dnormed, Write::overwrite, s);
  project_heads_backward(scratch.dk, h, w.k, dw.k, acts.k_raw, w.k_norm, dw.k_norm, acts.k_rstd, scratch.dk_raw,
                         sublayer.dnormed, Write::accumulate, s);
  ops::matmul_backward(as_rows(scratch.dv), h, w.v, sublayer.dnormed, dw.v, false, true, Write::accumulate,
                       Write::accumulate);
  norm_backward_into_stream(x_in, w.input_norm, acts.norm, dw.input_norm, sublayer, residual, stream_grad);
}

}  // namespace diverge::model
