// The pre-norm forward and backward around every sublayer.
#include "model/residual.h"

#include "kernels/ops.h"

namespace diverge::model {

NormActs allocate_norm(Buffers& buffers, const Dims& d) {
  return {buffers.act({d.tokens, d.model}), buffers.f32({d.tokens})};
}

void norm_forward(const Tensor& x, const Tensor& weight, float eps, const NormActs& acts) {
  ops::rmsnorm(x, weight, acts.out, acts.rstd, eps);
}

SublayerScratch allocate_sublayer_scratch(Buffers& buffers, const Dims& d) {
  return {buffers.act({d.tokens, d.model}), buffers.act({d.tokens, d.model})};
}

void norm_backward_into_stream(const Tensor& x, const Tensor& weight, const NormActs& acts, const Tensor& dweight,
                               const SublayerScratch& scratch, const Tensor& stream_grad) {
  ops::rmsnorm_backward(scratch.dnormed, x, weight, acts.rstd, scratch.dx, dweight);
  ops::add(stream_grad, scratch.dx, stream_grad);
}

}  // namespace diverge::model
