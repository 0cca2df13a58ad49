// matmul op: shape checks and dispatch of the matrix product and its backward to the device's backend.
#include "engine/error.h"
#include "kernels/cpu/matmul.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

constexpr const char* kOp = "matmul";

// The GEMM extents implied by a, b and out, after checking that they agree.
cpu::GemmShape checked_shape(Arg a, Arg b, Arg out, bool trans_a, bool trans_b) {
  check_arg(kOp, a, DType::f32, trans_a ? 2 : -1);
  check_arg(kOp, b, DType::f32, 2);
  check_arg(kOp, out, DType::f32, -1);
  check(a.tensor.ndim >= 2, kOp, std::string("a: expected at least 2 dimensions, got ") + a.tensor.describe());
  cpu::GemmShape s{};
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

}  // namespace

void matmul(const Tensor& a, const Tensor& b, const Tensor& out, bool trans_a, bool trans_b, Write write) {
  const cpu::GemmShape s = checked_shape({"a", a}, {"b", b}, {"out", out}, trans_a, trans_b);
  switch (common_device(kOp, {{"a", a}, {"b", b}, {"out", out}})) {
    case Device::cpu: return cpu::gemm(s, a.f32(), b.f32(), out.f32(), write == Write::accumulate);
    case Device::cuda: no_cuda_kernel(kOp);
  }
}

void matmul_backward(const Tensor& dout, const Tensor& a, const Tensor& b, const Tensor& da, const Tensor& db,
                     bool trans_a, bool trans_b, Write write_da, Write write_db) {
  const cpu::GemmShape s = checked_shape({"a", a}, {"b", b}, {"dout", dout}, trans_a, trans_b);
  if (!da.empty()) check_like(kOp, {"da", da}, {"a", a});
  if (!db.empty()) check_like(kOp, {"db", db}, {"b", b});
  switch (common_device(kOp, {{"dout", dout}, {"a", a}, {"b", b}})) {
    case Device::cpu:
      return cpu::gemm_backward(s, dout.f32(), a.f32(), b.f32(), da.empty() ? nullptr : da.f32(),
                                write_da == Write::accumulate, db.empty() ? nullptr : db.f32(),
                                write_db == Write::accumulate);
    case Device::cuda: no_cuda_kernel(kOp);
  }
}

}  // namespace diverge::ops
