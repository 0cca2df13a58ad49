// rmsnorm op: shape checks and dispatch of the normalisation and its backward.
#include <string>

#include "engine/error.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

void check_rmsnorm(const char* op, Device device, const Tensor& x, const Tensor& weight, const Tensor& rstd) {
  check_arg(op, {"x", x}, activation_dtype(device), -1);
  check(x.ndim >= 1, op, "x: expected at least 1 dimension, got " + x.describe());
  check_arg(op, {"weight", weight}, activation_dtype(device), 1);
  check_extent(op, {"weight", weight}, 0, x.dim(-1), "C, the last dimension of x");
  check_arg(op, {"rstd", rstd}, DType::f32, -1);
  check(rstd.numel() == leading_rows(x), op,
        "rstd: " + rstd.describe() + " should hold one value per row of x " + x.describe());
}

}  // namespace

void rmsnorm(const Tensor& x, const Tensor& weight, const Tensor& out, const Tensor& rstd, float eps) {
  constexpr const char* kOp = "rmsnorm";
  const Device device = common_device(kOp, {{"x", x}, {"weight", weight}, {"out", out}, {"rstd", rstd}});
  check_rmsnorm(kOp, device, x, weight, rstd);
  check_like(kOp, {"out", out}, {"x", x});
  check(eps >= 0.0f, kOp, "eps must be non-negative, got " + std::to_string(eps));
  switch (device) {
    case Device::cpu:
      return cpu::rmsnorm_forward(x.f32(), weight.f32(), leading_rows(x), x.dim(-1), eps, out.f32(), rstd.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::rmsnorm_forward(data_of<cuda::bf16_bits>(x), data_of<cuda::bf16_bits>(weight),
                                                 leading_rows(x), x.dim(-1), eps, data_of<cuda::bf16_bits>(out),
                                                 data_of<float>(rstd)));
  }
}

void rmsnorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& rstd, const Tensor& dx,
                      const Tensor& dweight) {
  constexpr const char* kOp = "rmsnorm_backward";
  const Device device = common_device(
      kOp, {{"dout", dout}, {"x", x}, {"weight", weight}, {"rstd", rstd}, {"dx", dx}, {"dweight", dweight}});
  check_rmsnorm(kOp, device, x, weight, rstd);
  check_like(kOp, {"dout", dout}, {"x", x});
  check_like(kOp, {"dx", dx}, {"x", x});
  check_arg(kOp, {"dweight", dweight}, DType::f32, 1);
  check_extent(kOp, {"dweight", dweight}, 0, weight.dim(0), "C, the extent of weight");
  switch (device) {
    case Device::cpu:
      return cpu::rmsnorm_backward(dout.f32(), x.f32(), weight.f32(), rstd.f32(), leading_rows(x), x.dim(-1), dx.f32(),
                                   dweight.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::rmsnorm_backward(data_of<cuda::bf16_bits>(dout), data_of<cuda::bf16_bits>(x),
                                                  data_of<cuda::bf16_bits>(weight), data_of<float>(rstd),
                                                  leading_rows(x), x.dim(-1), data_of<cuda::bf16_bits>(dx),
                                                  data_of<float>(dweight)));
  }
}

}  // namespace diverge::ops
