// embedding op: checks that ids, table and output agree, then dispatches the gather and its scatter-add backward.
#include <string>

#include "engine/error.h"
#include "kernels/cpu/embedding.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

// Checks ids (...) i32, table (V, C) and rows (..., C) for one call; returns nothing, throws on mismatch.
void check_embedding(const char* op, const Tensor& ids, const Tensor& table, Arg rows) {
  check_arg(op, {"ids", ids}, DType::i32, -1);
  check_arg(op, {"table", table}, DType::f32, 2);
  check_arg(op, rows, DType::f32, ids.ndim + 1);
  for (int i = 0; i < ids.ndim; ++i) check_extent(op, rows, i, ids.dim(i), "the shape of ids");
  check_extent(op, rows, -1, table.dim(1), "C, the embedding width");
}

}  // namespace

void embedding(const Tensor& ids, const Tensor& table, const Tensor& out) {
  constexpr const char* kOp = "embedding";
  check_embedding(kOp, ids, table, {"out", out});
  switch (common_device(kOp, {{"ids", ids}, {"table", table}, {"out", out}})) {
    case Device::cpu:
      return cpu::embedding_forward(ids.i32(), ids.numel(), table.f32(), table.dim(0), table.dim(1), out.f32());
    case Device::cuda: no_cuda_kernel(kOp);
  }
}

void embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dtable) {
  constexpr const char* kOp = "embedding_backward";
  check_embedding(kOp, ids, dtable, {"dout", dout});
  switch (common_device(kOp, {{"ids", ids}, {"dout", dout}, {"dtable", dtable}})) {
    case Device::cpu:
      return cpu::embedding_backward(ids.i32(), ids.numel(), dout.f32(), dtable.dim(0), dtable.dim(1), dtable.f32());
    case Device::cuda: no_cuda_kernel(kOp);
  }
}

}  // namespace diverge::ops
