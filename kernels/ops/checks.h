// Argument validation shared by every op: dtype, rank, extents and devices, each failure a one-line Error.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>

#include "engine/tensor.h"
#include "kernels/ops.h"

namespace diverge::ops {

// A tensor argument together with the name the op's documentation gives it, for error messages.
struct Arg {
  const char* name;
  const Tensor& tensor;
};

// Checks dtype and rank (ndim < 0: any rank), and that a non-empty tensor has memory behind it.
void check_arg(const char* op, Arg arg, DType dtype, int ndim);
// Checks one extent: "<op>: <name>: dim <i> is <x>, expected <expected> (<meaning>)".
void check_extent(const char* op, Arg arg, int dim, std::int64_t expected, const char* meaning);
// Checks that arg has the dtype and shape of reference (a gradient against its value, an output against its input).
void check_like(const char* op, Arg arg, Arg reference);
// Checks that arg has reference's shape, whatever its dtype.
void check_shape_like(const char* op, Arg arg, Arg reference);
// Checks the dtype of a product's result or gradient: f32 on the CPU; bf16 or f32 on CUDA, the caller's choice
// (activations bf16; parameter gradients and the logits a softmax reads f32).
void check_result_dtype(const char* op, Arg arg, Device device);

// Checks that every tensor lives on one device and returns it: the backend the op dispatches to.
Device common_device(const char* op, std::span<const Arg> args);
Device common_device(const char* op, std::initializer_list<Arg> args);
// The answer of a backend-neutral op whose tensors live on a device without a kernel for it yet.
[[noreturn]] void no_cuda_kernel(const char* op);
// In an op's `case Device::cuda:` — returns the CUDA kernel's call where the backend is built, and reports that it
// is not elsewhere (the kernels/cuda declarations have no definitions then).
#ifdef DIVERGE_WITH_CUDA
#define DIVERGE_CUDA_OP(op, call) return call
#else
#define DIVERGE_CUDA_OP(op, call) ::diverge::ops::no_cuda_kernel(op)
#endif

// A tensor's memory as T* for a backend call, once its dtype has been checked (device memory has no Tensor::f32()).
template <class T>
T* data_of(const Tensor& t) {
  return static_cast<T*>(t.data);
}

// A loss output: one f32 value (any rank whose extents multiply to 1).
void check_scalar(const char* op, Arg arg);
// The router's sums for N tokens: prob_sums (router_sum_chunks(N), E) f32, E the caller's to check, and lse (N) f32.
void check_router_sums(const char* op, const RouterSums& sums, std::int64_t tokens);
// out (one host f32) = value, or += value with Write::accumulate: a CPU kernel's returned loss into its tensor.
void write_host_scalar(const Tensor& out, double value, bool accumulate);

// Rows when the tensor is seen as a matrix whose last dimension is the row length.
std::int64_t leading_rows(const Tensor& t);

}  // namespace diverge::ops
