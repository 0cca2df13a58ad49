// Argument validation for the op interface: every failure names the op, the argument and what was expected.
#include "kernels/ops/checks.h"

#include <string>

#include "engine/error.h"
#include "kernels/cuda/device_info.h"

namespace diverge::ops {

namespace {

std::string where(const char* op, Arg arg) { return std::string(op) + ": " + arg.name; }

}  // namespace

void check_arg(const char* op, Arg arg, DType dtype, int ndim) {
  const Tensor& t = arg.tensor;
  check(t.dtype == dtype, where(op, arg),
        "expected " + std::string(dtype_name(dtype)) + ", got " + t.describe() +
            (dtype == DType::f32 ? " (the CPU reference computes in f32)" : ""));
  check(ndim < 0 || t.ndim == ndim, where(op, arg),
        "expected " + std::to_string(ndim) + " dimensions, got " + t.describe());
  check(t.numel() == 0 || !t.empty(), where(op, arg), "has no memory behind it: " + t.describe());
}

void check_extent(const char* op, Arg arg, int dim, std::int64_t expected, const char* meaning) {
  const std::int64_t actual = arg.tensor.dim(dim);
  check(actual == expected, where(op, arg),
        "dim " + std::to_string(dim) + " is " + std::to_string(actual) + ", expected " + std::to_string(expected) +
            " (" + meaning + ") in " + arg.tensor.describe());
}

void check_like(const char* op, Arg arg, Arg reference) {
  check(arg.tensor.dtype == reference.tensor.dtype, where(op, arg),
        arg.tensor.describe() + " differs from " + reference.name + " " + reference.tensor.describe());
  check_shape_like(op, arg, reference);
}

void check_shape_like(const char* op, Arg arg, Arg reference) {
  bool same = arg.tensor.ndim == reference.tensor.ndim;
  for (int i = 0; same && i < arg.tensor.ndim; ++i) same = arg.tensor.dim(i) == reference.tensor.dim(i);
  check(same, where(op, arg),
        arg.tensor.describe() + " differs from " + reference.name + " " + reference.tensor.describe());
  check(arg.tensor.numel() == 0 || !arg.tensor.empty(), where(op, arg),
        "has no memory behind it: " + arg.tensor.describe());
}

void check_result_dtype(const char* op, Arg arg, Device device) {
  if (device == Device::cpu || arg.tensor.dtype != DType::bf16) check_arg(op, arg, DType::f32, -1);
}

Device common_device(const char* op, std::initializer_list<Arg> args) {
  return common_device(op, std::span<const Arg>(args.begin(), args.size()));
}

Device common_device(const char* op, std::span<const Arg> args) {
  const Arg& first = args.front();
  for (const Arg& arg : args) {
    check(arg.tensor.device == first.tensor.device, op,
          std::string(arg.name) + " is on " + device_name(arg.tensor.device) + " but " + first.name + " is on " +
              device_name(first.tensor.device));
  }
  return first.tensor.device;
}

DType activation_dtype(Device device) { return device == Device::cuda ? DType::bf16 : DType::f32; }

void no_cuda_kernel(const char* op) {
  throw Error(op, cuda::compiled_in() ? "no CUDA kernel yet; run this op on CPU tensors"
                                      : "tensors are on cuda but this build has no CUDA backend");
}

void check_scalar(const char* op, Arg arg) {
  check_arg(op, arg, DType::f32, -1);
  check(arg.tensor.numel() == 1, where(op, arg),
        "is " + arg.tensor.describe() + ", expected one f32 value (a loss)");
}

void check_router_sums(const char* op, const RouterSums& sums, std::int64_t tokens) {
  check_arg(op, {"sums.prob_sums", sums.prob_sums}, DType::f32, 2);
  const std::string chunks = "the chunks of " + std::to_string(kRouterSumRows) + " of the N tokens";
  check_extent(op, {"sums.prob_sums", sums.prob_sums}, 0, router_sum_chunks(tokens), chunks.c_str());
  check_arg(op, {"sums.lse", sums.lse}, DType::f32, 1);
  check_extent(op, {"sums.lse", sums.lse}, 0, tokens, "N, the tokens");
}

void write_host_scalar(const Tensor& out, double value, bool accumulate) {
  float* slot = out.f32();
  *slot = accumulate ? *slot + static_cast<float>(value) : static_cast<float>(value);
}

std::int64_t leading_rows(const Tensor& t) {
  std::int64_t rows = 1;
  for (int i = 0; i + 1 < t.ndim; ++i) rows *= t.dim(i);
  return rows;
}

}  // namespace diverge::ops
