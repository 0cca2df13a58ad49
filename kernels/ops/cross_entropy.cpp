// cross_entropy ops: check logits, targets and saved logsumexp agree, then dispatch row losses, gradient and sum.
#include "kernels/cpu/cross_entropy.h"
#include "kernels/cuda/cross_entropy.h"
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
  check_shape_like(op, {"lse", lse}, {"targets", targets});
}

}  // namespace

void cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& lse, const Tensor& row_loss) {
  constexpr const char* kOp = "cross_entropy";
  check_cross_entropy(kOp, logits, targets, lse);
  check_like(kOp, {"row_loss", row_loss}, {"lse", lse});
  switch (common_device(kOp, {{"logits", logits}, {"targets", targets}, {"lse", lse}, {"row_loss", row_loss}})) {
    case Device::cpu:
      return cpu::cross_entropy_forward(logits.f32(), targets.i32(), targets.numel(), logits.dim(-1), lse.f32(),
                                        row_loss.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::cross_entropy_forward(data_of<float>(logits), data_of<std::int32_t>(targets),
                                                       targets.numel(), logits.dim(-1), data_of<float>(lse),
                                                       data_of<float>(row_loss)));
  }
}

void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float weight,
                            const Tensor& dlogits) {
  constexpr const char* kOp = "cross_entropy_backward";
  check_cross_entropy(kOp, logits, targets, lse);
  check_like(kOp, {"dlogits", dlogits}, {"logits", logits});
  switch (common_device(kOp, {{"logits", logits}, {"targets", targets}, {"lse", lse}, {"dlogits", dlogits}})) {
    case Device::cpu:
      return cpu::cross_entropy_backward(logits.f32(), targets.i32(), lse.f32(), targets.numel(), logits.dim(-1),
                                         weight, dlogits.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::cross_entropy_backward(data_of<float>(logits), data_of<std::int32_t>(targets),
                                                        data_of<float>(lse), targets.numel(), logits.dim(-1), weight,
                                                        data_of<float>(dlogits)));
  }
}

void scaled_sum(const Tensor& values, float scale, const Tensor& out, Write write) {
  constexpr const char* kOp = "scaled_sum";
  check_arg(kOp, {"values", values}, DType::f32, -1);
  check_scalar(kOp, {"out", out});
  const bool accumulate = write == Write::accumulate;
  switch (common_device(kOp, {{"values", values}, {"out", out}})) {
    case Device::cpu:
      return write_host_scalar(out, cpu::scaled_sum(values.f32(), values.numel(), static_cast<double>(scale)),
                               accumulate);
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::scaled_sum(data_of<float>(values), values.numel(), scale, data_of<float>(out),
                                            accumulate));
  }
}

}  // namespace diverge::ops
