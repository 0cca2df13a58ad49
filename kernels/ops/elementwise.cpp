// Elementwise ops: checks that the tensors agree, then dispatches add, copy and casts to the device's backend.
#include <cstring>

#include "engine/error.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/memory.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

void add(const Tensor& a, const Tensor& b, const Tensor& out) {
  constexpr const char* kOp = "add";
  const Device device = common_device(kOp, {{"a", a}, {"b", b}, {"out", out}});
  check_arg(kOp, {"a", a}, activation_dtype(device), -1);
  check_like(kOp, {"b", b}, {"a", a});
  check_like(kOp, {"out", out}, {"a", a});
  switch (device) {
    case Device::cpu: return cpu::add(a.f32(), b.f32(), a.numel(), out.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::add(data_of<cuda::bf16_bits>(a), data_of<cuda::bf16_bits>(b), a.numel(),
                                     data_of<cuda::bf16_bits>(out)));
  }
}

void copy(const Tensor& src, const Tensor& dst) {
  constexpr const char* kOp = "copy";
  const Device device = common_device(kOp, {{"src", src}, {"dst", dst}});
  check_like(kOp, {"dst", dst}, {"src", src});
  check(src.numel() == 0 || !src.empty(), kOp, "src: has no memory behind it: " + src.describe());
  if (src.data == dst.data || src.numel() == 0) return;
  switch (device) {
    case Device::cpu: std::memcpy(dst.data, src.data, src.bytes()); return;
    case Device::cuda: DIVERGE_CUDA_OP(kOp, cuda::copy_on_device(dst.data, src.data, src.bytes()));
  }
}

void cast_to_activation(const Tensor& src, const Tensor& dst) {
  constexpr const char* kOp = "cast_to_activation";
  const Device device = common_device(kOp, {{"src", src}, {"dst", dst}});
  check_arg(kOp, {"src", src}, DType::f32, -1);
  check_arg(kOp, {"dst", dst}, activation_dtype(device), -1);
  check_shape_like(kOp, {"dst", dst}, {"src", src});
  switch (device) {
    case Device::cpu: return copy(src, dst);
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::round_to_bf16(data_of<float>(src), src.numel(), data_of<cuda::bf16_bits>(dst)));
  }
}

}  // namespace diverge::ops
