// The residual stream's pre-norm in front of every sublayer: its forward, and its backward joining the stream.
#pragma once

#include "engine/buffers.h"
#include "engine/tensor.h"
#include "model/dims.h"

namespace diverge::model {

// One RMSNorm's saved state: its output (the sublayer's input) and the inverse RMS of each row.
struct NormActs {
  Tensor out;   // (N, C)
  Tensor rstd;  // (N)
};
NormActs allocate_norm(Buffers& buffers, const Dims& d);

// Backward workspace every sublayer shares (one sublayer runs at a time): the gradient of its normalised input and
// the norm's input gradient before it joins the stream.
struct SublayerScratch {
  Tensor dnormed;  // (N, C)
  Tensor dx;       // (N, C)
};
SublayerScratch allocate_sublayer_scratch(Buffers& buffers, const Dims& d);

void norm_forward(const Tensor& x, const Tensor& weight, float eps, const NormActs& acts);
// The norm's backward folded into the residual gradient: stream_grad (N, C) += d/dx of the norm given
// scratch.dnormed; dweight is added to.
void norm_backward_into_stream(const Tensor& x, const Tensor& weight, const NormActs& acts, const Tensor& dweight,
                               const SublayerScratch& scratch, const Tensor& stream_grad);

}  // namespace diverge::model
