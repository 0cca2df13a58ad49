// Residual stream copies/adds through the embedding ops, and the pre-norm forward and backward.
#include "model/residual.h"

#include "kernels/ops.h"

namespace diverge::model {

void Residual::copy(const Tensor& src, const Tensor& dst) const { ops::embedding(identity_, src, dst); }

void Residual::add(const Tensor& src, const Tensor& dst) const { ops::embedding_backward(identity_, src, dst); }

NormActs allocate_norm(Buffers& buffers, const Dims& d) {
  return {buffers.f32({d.tokens, d.model}), buffers.f32({d.tokens})};
}

void norm_forward(const Tensor& x, const Tensor& weight, float eps, const NormActs& acts) {
  ops::rmsnorm(x, weight, acts.out, acts.rstd, eps);
}

SublayerScratch allocate_sublayer_scratch(Buffers& buffers, const Dims& d) {
  return {buffers.f32({d.tokens, d.model}), buffers.f32({d.tokens, d.model})};
}

void norm_backward_into_stream(const Tensor& x, const Tensor& weight, const NormActs& acts, const Tensor& dweight,
                               const SublayerScratch& scratch, const Residual& residual, const Tensor& stream_grad) {
  ops::rmsnorm_backward(scratch.dnormed, x, weight, acts.rstd, scratch.dx, dweight);
  residual.add(scratch.dx, stream_grad);
}

}  // namespace diverge::model
