// swiglu op: checks that all operands share one shape, then dispatches the activation and its backward.
#include "kernels/cpu/swiglu.h"
#include "kernels/cuda/swiglu.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out) {
  constexpr const char* kOp = "swiglu";
  const Device device = common_device(kOp, {{"gate", gate}, {"up", up}, {"out", out}});
  check_arg(kOp, {"gate", gate}, activation_dtype(device), -1);
  check_like(kOp, {"up", up}, {"gate", gate});
  check_like(kOp, {"out", out}, {"gate", gate});
  switch (device) {
    case Device::cpu: return cpu::swiglu_forward(gate.f32(), up.f32(), gate.numel(), out.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::swiglu_forward(data_of<cuda::bf16_bits>(gate), data_of<cuda::bf16_bits>(up),
                                                gate.numel(), data_of<cuda::bf16_bits>(out)));
  }
}

void swiglu_backward(const Tensor& dout, const Tensor& gate, const Tensor& up, const Tensor& dgate, const Tensor& dup) {
  constexpr const char* kOp = "swiglu_backward";
  const Device device =
      common_device(kOp, {{"dout", dout}, {"gate", gate}, {"up", up}, {"dgate", dgate}, {"dup", dup}});
  check_arg(kOp, {"gate", gate}, activation_dtype(device), -1);
  for (Arg arg : {Arg{"dout", dout}, Arg{"up", up}, Arg{"dgate", dgate}, Arg{"dup", dup}})
    check_like(kOp, arg, {"gate", gate});
  switch (device) {
    case Device::cpu:
      return cpu::swiglu_backward(dout.f32(), gate.f32(), up.f32(), gate.numel(), dgate.f32(), dup.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::swiglu_backward(data_of<cuda::bf16_bits>(dout), data_of<cuda::bf16_bits>(gate),
                                                 data_of<cuda::bf16_bits>(up), gate.numel(),
                                                 data_of<cuda::bf16_bits>(dgate), data_of<cuda::bf16_bits>(dup)));
  }
}

}  // namespace diverge::ops
