// embedding op: checks that ids, table and output agree, then dispatches the gather and its scatter-add backward.
#include <string>

#include "engine/error.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cuda/embedding.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

// Checks ids (...) i32, table (V, C) and rows (..., C) of the given dtypes for one call; throws on mismatch.
void check_embedding(const char* op, const Tensor& ids, Arg table, DType table_dtype, Arg rows, DType rows_dtype) {
  check_arg(op, {"ids", ids}, DType::i32, -1);
  check_arg(op, table, table_dtype, 2);
  check_arg(op, rows, rows_dtype, ids.ndim + 1);
  for (int i = 0; i < ids.ndim; ++i) check_extent(op, rows, i, ids.dim(i), "the shape of ids");
  check_extent(op, rows, -1, table.tensor.dim(1), "C, the embedding width");
}

}  // namespace

void embedding(const Tensor& ids, const Tensor& table, const Tensor& out) {
  constexpr const char* kOp = "embedding";
  const Device device = common_device(kOp, {{"ids", ids}, {"table", table}, {"out", out}});
  check_embedding(kOp, ids, {"table", table}, activation_dtype(device), {"out", out}, activation_dtype(device));
  switch (device) {
    case Device::cpu:
      return cpu::embedding_forward(ids.i32(), ids.numel(), table.f32(), table.dim(0), table.dim(1), out.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::embedding_forward(data_of<std::int32_t>(ids), ids.numel(),
                                                   data_of<cuda::bf16_bits>(table), table.dim(0), table.dim(1),
                                                   data_of<cuda::bf16_bits>(out)));
  }
}

void embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dtable) {
  constexpr const char* kOp = "embedding_backward";
  const Device device = common_device(kOp, {{"ids", ids}, {"dout", dout}, {"dtable", dtable}});
  // The table's gradient is a parameter gradient: fp32 on every device.
  check_embedding(kOp, ids, {"dtable", dtable}, DType::f32, {"dout", dout}, activation_dtype(device));
  switch (device) {
    case Device::cpu:
      return cpu::embedding_backward(ids.i32(), ids.numel(), dout.f32(), dtable.dim(0), dtable.dim(1), dtable.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::embedding_backward(data_of<std::int32_t>(ids), ids.numel(),
                                                    data_of<cuda::bf16_bits>(dout), dtable.dim(0), dtable.dim(1),
                                                    data_of<float>(dtable)));
  }
}

}  // namespace diverge::ops
