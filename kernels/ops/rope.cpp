// rope op: checks the (B, T, H, D) layout and theta, then dispatches the rotation and its transpose.
#include <string>

#include "engine/error.h"
#include "kernels/cpu/rope.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

cpu::RopeShape checked_shape(const char* op, Arg in, Arg out, float theta) {
  check_arg(op, in, DType::f32, 4);
  check_like(op, out, in);
  check(in.tensor.dim(3) % 2 == 0, op,
        std::string(in.name) + ": head dim D must be even for rotate_half, got " + in.tensor.describe());
  check(theta > 1.0f, op, "theta must be greater than 1, got " + std::to_string(theta));
  return {in.tensor.dim(0), in.tensor.dim(1), in.tensor.dim(2), in.tensor.dim(3)};
}

}  // namespace

void rope(const Tensor& x, const Tensor& out, float theta) {
  constexpr const char* kOp = "rope";
  const cpu::RopeShape s = checked_shape(kOp, {"x", x}, {"out", out}, theta);
  switch (common_device(kOp, {{"x", x}, {"out", out}})) {
    case Device::cpu: return cpu::rope_forward(s, x.f32(), theta, out.f32());
    case Device::cuda: no_cuda_kernel(kOp);
  }
}

void rope_backward(const Tensor& dout, const Tensor& dx, float theta) {
  constexpr const char* kOp = "rope_backward";
  const cpu::RopeShape s = checked_shape(kOp, {"dout", dout}, {"dx", dx}, theta);
  switch (common_device(kOp, {{"dout", dout}, {"dx", dx}})) {
    case Device::cpu: return cpu::rope_backward(s, dout.f32(), theta, dx.f32());
    case Device::cuda: no_cuda_kernel(kOp);
  }
}

}  // namespace diverge::ops
