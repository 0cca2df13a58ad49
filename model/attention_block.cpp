// Attention sublayer forward and backward, as compositions of the matmul, rmsnorm, rope and attention ops.
#include "model/attention_block.h"

#include "kernels/ops.h"

namespace diverge::model {

namespace {

using ops::Write;

// (B, T, heads, D) seen as the (N, heads * D) rows a projection writes.
Tensor as_rows(const Tensor& heads) {
  return heads.reshape({heads.dim(0) * heads.dim(1), heads.dim(2) * heads.dim(3)});
}

// The query or key path of one layer: projection, optional per-head QK-norm, rotation.
struct HeadProjection {
  Tensor weight;       // (heads * D, C)
  Tensor norm_weight;  // (D); empty without qk_norm
  Tensor raw;          // (B, T, heads, D) before QK-norm; empty without qk_norm
  Tensor rstd;         // (B, T, heads); empty without qk_norm
  Tensor rotated;      // (B, T, heads, D) as attention reads it
};

HeadProjection query(const AttentionWeights& w, const AttentionActs& a) {
  return {w.q, w.q_norm, a.q_raw, a.q_rstd, a.q};
}
HeadProjection key(const AttentionWeights& w, const AttentionActs& a) {
  return {w.k, w.k_norm, a.k_raw, a.k_rstd, a.k};
}

void project_heads(const Tensor& h, const HeadProjection& p, const AttentionSettings& s) {
  if (p.norm_weight.empty()) {
    ops::matmul(h, p.weight, as_rows(p.rotated), false, true);
  } else {
    ops::matmul(h, p.weight, as_rows(p.raw), false, true);
    ops::rmsnorm(p.raw, p.norm_weight, p.rotated, p.rstd, s.rms_eps);
  }
  ops::rope(p.rotated, p.rotated, s.rope_theta);
}

// Back through project_heads: d_rotated (overwritten, as is d_raw) to dh (N, C), written as write_dh says; the
// weight and norm-weight gradients (grads.weight, grads.norm_weight) are added to.
void project_heads_backward(const Tensor& h, const HeadProjection& p, const HeadProjection& grads,
                            const Tensor& d_rotated, const Tensor& d_raw, const Tensor& dh, Write write_dh,
                            const AttentionSettings& s) {
  ops::rope_backward(d_rotated, d_rotated, s.rope_theta);
  Tensor d_projection = d_rotated;
  if (!p.norm_weight.empty()) {
    ops::rmsnorm_backward(d_rotated, p.raw, p.norm_weight, p.rstd, d_raw, grads.norm_weight);
    d_projection = d_raw;
  }
  ops::matmul_backward(as_rows(d_projection), h, p.weight, dh, grads.weight, false, true, write_dh, Write::accumulate);
}

}  // namespace

AttentionActs allocate_attention(Buffers& buffers, const Dims& d, bool qk_norm) {
  AttentionActs a;
  a.norm = allocate_norm(buffers, d);
  if (qk_norm) {
    a.q_raw = buffers.act({d.batch, d.seq, d.heads, d.head_dim});
    a.k_raw = buffers.act({d.batch, d.seq, d.kv_heads, d.head_dim});
    a.q_rstd = buffers.f32({d.batch, d.seq, d.heads});
    a.k_rstd = buffers.f32({d.batch, d.seq, d.kv_heads});
  }
  a.q = buffers.act({d.batch, d.seq, d.heads, d.head_dim});
  a.k = buffers.act({d.batch, d.seq, d.kv_heads, d.head_dim});
  a.v = buffers.act({d.batch, d.seq, d.kv_heads, d.head_dim});
  a.out = buffers.act({d.batch, d.seq, d.heads, d.head_dim});
  a.lse = buffers.f32({d.batch, d.heads, d.seq});
  return a;
}

AttentionScratch allocate_attention_scratch(Buffers& buffers, const Dims& d, bool qk_norm) {
  AttentionScratch s;
  s.dout = buffers.act({d.batch, d.seq, d.heads, d.head_dim});
  s.dq = buffers.act({d.batch, d.seq, d.heads, d.head_dim});
  s.dk = buffers.act({d.batch, d.seq, d.kv_heads, d.head_dim});
  s.dv = buffers.act({d.batch, d.seq, d.kv_heads, d.head_dim});
  if (qk_norm) {
    s.dq_raw = buffers.act({d.batch, d.seq, d.heads, d.head_dim});
    s.dk_raw = buffers.act({d.batch, d.seq, d.kv_heads, d.head_dim});
  }
  return s;
}

void attention_forward(const AttentionSettings& s, const AttentionWeights& w, const Tensor& x_in,
                       const AttentionActs& acts, const Tensor& x_out) {
  norm_forward(x_in, w.input_norm, s.rms_eps, acts.norm);
  const Tensor& h = acts.norm.out;
  project_heads(h, query(w, acts), s);
  project_heads(h, key(w, acts), s);
  ops::matmul(h, w.v, as_rows(acts.v), false, true);
  ops::attention(acts.q, acts.k, acts.v, acts.out, acts.lse);
  ops::copy(x_in, x_out);
  ops::matmul(as_rows(acts.out), w.o, x_out, false, true, Write::accumulate);
}

void attention_backward(const AttentionSettings& s, const AttentionWeights& w, const AttentionWeights& dw,
                        const Tensor& x_in, const AttentionActs& acts, const AttentionScratch& scratch,
                        const SublayerScratch& sublayer, const Tensor& stream_grad) {
  ops::matmul_backward(stream_grad, as_rows(acts.out), w.o, as_rows(scratch.dout), dw.o, false, true, Write::overwrite,
                       Write::accumulate);
  ops::attention_backward(acts.q, acts.k, acts.v, acts.out, acts.lse, scratch.dout, scratch.dq, scratch.dk, scratch.dv);
  const Tensor& h = acts.norm.out;
  project_heads_backward(h, query(w, acts), query(dw, acts), scratch.dq, scratch.dq_raw, sublayer.dnormed,
                         Write::overwrite, s);
  project_heads_backward(h, key(w, acts), key(dw, acts), scratch.dk, scratch.dk_raw, sublayer.dnormed,
                         Write::accumulate, s);
  ops::matmul_backward(as_rows(scratch.dv), h, w.v, sublayer.dnormed, dw.v, false, true, Write::accumulate,
                       Write::accumulate);
  norm_backward_into_stream(x_in, w.input_norm, acts.norm, dw.input_norm, sublayer, stream_grad);
}

}  // namespace diverge::model
