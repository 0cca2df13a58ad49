// swiglu op: checks that all operands share one shape, then dispatches the activation and its backward.
#include "kernels/cpu/swiglu.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out) {
  constexpr const char* kOp = "swiglu";
  check_arg(kOp, {"gate", gate}, DType::f32, -1);
  check_like(kOp, {"up", up}, {"gate", gate});
  check_like(kOp, {"out", out}, {"gate", gate});
  switch (common_device(kOp, {{"gate", gate}, {"up", up}, {"out", out}})) {
    case Device::cpu: return cpu::swiglu_forward(gate.f32(), up.f32(), gate.numel(), out.f32());
    case Device::cuda: no_cuda_kernel(kOp);
  }
}

void swiglu_backward(const Tensor& dout, const Tensor& gate, const Tensor& up, const Tensor& dgate, const Tensor& dup) {
  constexpr const char* kOp = "swiglu_backward";
  check_arg(kOp, {"gate", gate}, DType::f32, -1);
  for (Arg arg : {Arg{"dout", dout}, Arg{"up", up}, Arg{"dgate", dgate}, Arg{"dup", dup}})
    check_like(kOp, arg, {"gate", gate});
  switch (common_device(kOp, {{"dout", dout}, {"gate", gate}, {"up", up}, {"dgate", dgate}, {"dup", dup}})) {
    case Device::cpu:
      return cpu::swiglu_backward(dout.f32(), gate.f32(), up.f32(), gate.numel(), dgate.f32(), dup.f32());
    case Device::cuda: no_cuda_kernel(kOp);
  }
}

}  // namespace diverge::ops
