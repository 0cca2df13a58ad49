// cross_entropy op: checks logits, targets and saved logsumexp agree, then dispatches loss and gradient.
#include "kernels/cpu/cross_entropy.h"
#include "kernels/cuda/cross_entropy.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/scratch.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

// Logits are fp32 on every device: the logsumexp of a large vocabulary needs fp32 inputs (KERNELS.md).
void check_cross_entropy(const char* op, const Tensor& logits, const Tensor& targets, const Tensor& lse) {
  check_arg(op, {"targets", targets}, DType::i32, -1);
  check_arg(op, {"logits", logits}, DType::f32, targets.ndim + 1);
  for (int i = 0; i < targets.ndim; ++i)
    check_extent(op, {"logits", logits}, i, targets.dim(i), "the shape of targets");
  check_arg(op, {"lse", lse}, DType::f32, targets.ndim);
  for (int i = 0; i < targets.ndim; ++i) check_extent(op, {"lse", lse}, i, targets.dim(i), "the shape of targets");
}

#ifdef DIVERGE_WITH_CUDA
// The loss stays on the device until this one read: the op's contract returns it to the host.
float cuda_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& lse) {
  static cuda::Scratch scratch("cross_entropy loss");
  float* loss = scratch.get<float>(1);
  cuda::cross_entropy_forward(data_of<float>(logits), data_of<std::int32_t>(targets), targets.numel(), logits.dim(-1),
                              data_of<float>(lse), loss);
  float host = 0.0f;
  cuda::copy_to_host(&host, loss, sizeof host);
  return host;
}
#endif

}  // namespace

float cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& lse) {
  constexpr const char* kOp = "cross_entropy";
  check_cross_entropy(kOp, logits, targets, lse);
  switch (common_device(kOp, {{"logits", logits}, {"targets", targets}, {"lse", lse}})) {
    case Device::cpu:
      return cpu::cross_entropy_forward(logits.f32(), targets.i32(), targets.numel(), logits.dim(-1), lse.f32());
    case Device::cuda: DIVERGE_CUDA_OP(kOp, cuda_cross_entropy(logits, targets, lse));
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
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::cross_entropy_backward(data_of<float>(logits), data_of<std::int32_t>(targets),
                                                        data_of<float>(lse), targets.numel(), logits.dim(-1), dloss,
                                                        data_of<float>(dlogits)));
  }
}

}  // namespace diverge::ops
