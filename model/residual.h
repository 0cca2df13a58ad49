// The residual stream: row copies and in-place adds of (N, C) tensors, and the pre-norm in front of every sublayer.
#pragma once

#include "engine/tensor.h"
#include "model/buffers.h"
#include "model/dims.h"

namespace diverge::model {

// The op library has no elementwise add; the embedding gather over the identity index 0..N-1 is a row copy and its
// scatter-add an in-place row add, both deterministic and available on every backend the ops support.
class Residual {
 public:
  // identity (N) i32 holding 0..N-1.
  explicit Residual(Tensor identity) : identity_(identity) {}
  // dst (N, C) = src (N, C)
  void copy(const Tensor& src, const Tensor& dst) const;
  // dst (N, C) += src (N, C)
  void add(const Tensor& src, const Tensor& dst) const;

 private:
  Tensor identity_;
};

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
                               const SublayerScratch& scratch, const Residual& residual, const Tensor& stream_grad);

}  // namespace diverge::model
