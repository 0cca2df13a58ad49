// A SwiGLU FFN applied to every token: the MLP of dense layers and the shared experts of MoE layers.
#pragma once

#include "engine/buffers.h"
#include "kernels/ops.h"
#include "model/weights.h"

namespace diverge::model {

struct FfnActs {
  Tensor gate;    // (N, F): h W_gate^T
  Tensor up;      // (N, F): h W_up^T
  Tensor hidden;  // (N, F): silu(gate) * up
};

// Backward workspace, shared by all layers of one hidden width.
struct FfnScratch {
  Tensor dhidden;  // (N, F)
  Tensor dgate;    // (N, F)
  Tensor dup;      // (N, F)
};

FfnActs allocate_ffn(Buffers& buffers, std::int64_t tokens, std::int64_t hidden);
FfnScratch allocate_ffn_scratch(Buffers& buffers, std::int64_t tokens, std::int64_t hidden);

// out (N, C) += swiglu_ffn(h (N, C)): callers pass the residual stream, already holding the sublayer's input.
void ffn_forward(const Tensor& h, const FfnWeights& w, const FfnActs& acts, const Tensor& out);
// From dout (N, C): dh (N, C) written as write_dh says; dw added to.
void ffn_backward(const Tensor& dout, const Tensor& h, const FfnWeights& w, const FfnWeights& dw, const FfnActs& acts,
                  const FfnScratch& scratch, const Tensor& dh, ops::Write write_dh);

// The same passes in halves, for a caller that overlaps them with other ranks' traffic (the shared experts beside
// the expert all-to-alls). Forward: the hidden activations, then out (N, C) += hidden W_down^T.
void ffn_hidden_forward(const Tensor& h, const FfnWeights& w, const FfnActs& acts);
void ffn_output_forward(const FfnWeights& w, const FfnActs& acts, const Tensor& out);
// Backward: every weight gradient (and scratch's gradients of the hidden activations), then dh (N, C) from those.
void ffn_weights_backward(const Tensor& dout, const Tensor& h, const FfnWeights& w, const FfnWeights& dw,
                          const FfnActs& acts, const FfnScratch& scratch);
void ffn_input_backward(const Tensor& h, const FfnWeights& w, const FfnScratch& scratch, const Tensor& dh,
                        ops::Write write_dh);

}  // namespace diverge::model
