// matmul op: shape checks and dispatch of the matrix product and its backward to the device's backend.
#include "engine/error.h"
#include "engine/step_profile.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/scratch.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

constexpr const char* kOp = "matmul";

// The GEMM extents implied by a, b and out, after checking that they agree; a and b are activations of the device
// (bf16 on CUDA), out may also be f32 there.
GemmShape checked_shape(Device device, Arg a, Arg b, Arg out, bool trans_a, bool trans_b) {
  check_arg(kOp, a, activation_dtype(device), trans_a ? 2 : -1);
  check_arg(kOp, b, activation_dtype(device), 2);
  check_result_dtype(kOp, out, device);
  check(a.tensor.ndim >= 2, kOp, std::string("a: expected at least 2 dimensions, got ") + a.tensor.describe());
  GemmShape s{};
  s.trans_a = trans_a;
  s.trans_b = trans_b;
  s.m = trans_a ? a.tensor.dim(1) : leading_rows(a.tensor);
  s.k = trans_a ? a.tensor.dim(0) : a.tensor.dim(-1);
  s.n = trans_b ? b.tensor.dim(0) : b.tensor.dim(1);
  check_extent(kOp, b, trans_b ? 1 : 0, s.k, "K, the inner dimension of a");
  check_extent(kOp, out, -1, s.n, "N, the columns of op(b)");
  check(leading_rows(out.tensor) == s.m, kOp,
        "out: " + out.tensor.describe() + " has " + std::to_string(leading_rows(out.tensor)) + " rows, expected " +
            std::to_string(s.m) + " (M, the rows of op(a))");
  return s;
}

#ifdef DIVERGE_WITH_CUDA
cuda::Result result_type(const Tensor& t) { return t.dtype == DType::bf16 ? cuda::Result::bf16 : cuda::Result::f32; }

cuda::GemmGradient cuda_gradient(const Tensor& t, Write write) {
  if (t.empty()) return {};
  return {t.data, result_type(t), write == Write::accumulate};
}

// The product's gradient reads dout as bf16, as both operands of a cuBLASLt product share one type: an fp32 dout
// (the router's and the LM head's logits) is rounded once into scratch.
const cuda::bf16_bits* bf16_operand(const Tensor& dout) {
  if (dout.dtype == DType::bf16) return data_of<cuda::bf16_bits>(dout);
  static cuda::Scratch rounded("matmul_backward rounded dout");
  auto* out = rounded.get<cuda::bf16_bits>(static_cast<std::size_t>(dout.numel()));
  cuda::round_to_bf16(data_of<float>(dout), dout.numel(), out);
  return out;
}
#endif

}  // namespace

void matmul(const Tensor& a, const Tensor& b, const Tensor& out, bool trans_a, bool trans_b, Write write) {
  const PartScope part(StepPart::dense_gemm);
  const Device device = common_device(kOp, {{"a", a}, {"b", b}, {"out", out}});
  const GemmShape s = checked_shape(device, {"a", a}, {"b", b}, {"out", out}, trans_a, trans_b);
  switch (device) {
    case Device::cpu: return cpu::gemm(s, a.f32(), b.f32(), out.f32(), write == Write::accumulate);
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::gemm(s, data_of<cuda::bf16_bits>(a), data_of<cuda::bf16_bits>(b), out.data,
                                      result_type(out), write == Write::accumulate));
  }
}

void matmul_backward(const Tensor& dout, const Tensor& a, const Tensor& b, const Tensor& da, const Tensor& db,
                     bool trans_a, bool trans_b, Write write_da, Write write_db) {
  const PartScope part(StepPart::dense_gemm);
  const Device device = common_device(kOp, {{"dout", dout}, {"a", a}, {"b", b}});
  const GemmShape s = checked_shape(device, {"a", a}, {"b", b}, {"dout", dout}, trans_a, trans_b);
  for (const Arg& gradient : {Arg{"da", da}, Arg{"db", db}}) {
    if (gradient.tensor.empty()) continue;
    check(gradient.tensor.device == device, kOp, std::string(gradient.name) + " is not on the device of dout");
    check_result_dtype(kOp, gradient, device);
  }
  if (!da.empty()) check_shape_like(kOp, {"da", da}, {"a", a});
  if (!db.empty()) check_shape_like(kOp, {"db", db}, {"b", b});
  switch (device) {
    case Device::cpu:
      return cpu::gemm_backward(s, dout.f32(), a.f32(), b.f32(), da.empty() ? nullptr : da.f32(),
                                write_da == Write::accumulate, db.empty() ? nullptr : db.f32(),
                                write_db == Write::accumulate);
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::gemm_backward(s, bf16_operand(dout), data_of<cuda::bf16_bits>(a),
                                               data_of<cuda::bf16_bits>(b), cuda_gradient(da, write_da),
                                               cuda_gradient(db, write_db)));
  }
}

}  // namespace diverge::ops
