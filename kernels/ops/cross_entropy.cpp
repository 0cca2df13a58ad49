// cross_entropy op: checks logits, targets and saved logsumexp agree, then dispatches loss and gradient.
#include "kernels/cpu/cross_entropy.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

void check_cross_entropy(const char* op, const Tensor& logits, const Tensor& targets, const Tensor& lse) {
  check_arg(op, {"targets", targets}, DType::i32, -1);
  check_arg(op, {"logits", logits}, DType::f32, targets.ndim + 1);
  for (int i = 0; i < targets.ndim; ++i)
    check_extent(op, {"logits", logits}, i, targets.dim(i), "the shape of targets");
  check_arg(op, {"lse", lse}, DType::f32, targets.ndim);
  for (int i = 0; i < targets.ndim; ++i) check_extent(op, {"lse", lse}, i, targets.dim(i), "the shape of targets");
}

}  // namespace

float cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& lse) {
  constexpr const char* kOp = "cross_entropy";
  check_cross_entropy(kOp, logits, targets, lse);
  switch (common_device(kOp, {{"logits", logits}, {"targets", targets}, {"lse", lse}})) {
    case Device::cpu:
      return cpu::cross_entropy_forward(logits.f32(), targets.i32(), targets.numel(), logits.dim(-1), lse.f32());
    case Device::cuda: break;
  }
  no_cuda_kernel(kOp);
}

void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss,
                            const Tensor& dlogits) {
  constexpr const char* kOp = "cross_entropy_backward";
  check_cross_entropy(kOp, logits, targets, lse);
  check_like(kOp, {"dlogits", dlogits}, {"logits", logits});
  switch (common_device(kOp, {{"logits", logits}, {"targets", targets}, {"lse", lse}, {"dlogits", dlogits}})) {
    case Device::cpu:
      return cpu::cross_entropy_backward(logits.f32(), targets.i32(), lse.f32(), targets.numel(), logits.dim(-1), dloss,
                                         dlogits.f32());
    case Device::cuda: no_cuda_kernel(kOp);
  }
}

}  // namespace diverge::ops
