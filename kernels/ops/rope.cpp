// rope op: checks the (B, T, H, D) layout and theta, then dispatches the rotation and its transpose.
#include <string>

#include "engine/error.h"
#include "kernels/cpu/rope.h"
#include "kernels/cuda/rope.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

RopeShape checked_shape(const char* op, Device device, Arg in, Arg out, float theta) {
  check_arg(op, in, activation_dtype(device), 4);
  check_like(op, out, in);
  check(in.tensor.dim(3) % 2 == 0, op,
        std::string(in.name) + ": head dim D must be even for rotate_half, got " + in.tensor.describe());
  check(theta > 1.0f, op, "theta must be greater than 1, got " + std::to_string(theta));
  return {in.tensor.dim(0), in.tensor.dim(1), in.tensor.dim(2), in.tensor.dim(3)};
}

}  // namespace

void rope(const Tensor& x, const Tensor& out, float theta) {
  constexpr const char* kOp = "rope";
  const Device device = common_device(kOp, {{"x", x}, {"out", out}});
  const RopeShape s = checked_shape(kOp, device, {"x", x}, {"out", out}, theta);
  switch (device) {
    case Device::cpu: return cpu::rope_forward(s, x.f32(), theta, out.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::rope_rotate(s, data_of<cuda::bf16_bits>(x), theta, 1.0f,
                                             data_of<cuda::bf16_bits>(out)));
  }
}

void rope_backward(const Tensor& dout, const Tensor& dx, float theta) {
  constexpr const char* kOp = "rope_backward";
  const Device device = common_device(kOp, {{"dout", dout}, {"dx", dx}});
  const RopeShape s = checked_shape(kOp, device, {"dout", dout}, {"dx", dx}, theta);
  switch (device) {
    case Device::cpu: return cpu::rope_backward(s, dout.f32(), theta, dx.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::rope_rotate(s, data_of<cuda::bf16_bits>(dout), theta, -1.0f,
                                             data_of<cuda::bf16_bits>(dx)));
  }
}

}  // namespace diverge::ops
