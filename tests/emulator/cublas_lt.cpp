// The part of cuBLASLt that kernels/cuda/gemm.cu calls, over host memory: bf16 or fp32 column-major operands
// widened to fp32, multiplied by the host BLAS with fp32 accumulation, and the result rounded to its type once.
#include <cublasLt.h>
#include <cblas.h>

#include <cstring>
#include <vector>

#include "tests/emulator/cuda_emulator.h"

struct cublasLtContext {};

namespace {

// What the descriptors hold: each handle points at one of these (the library's callers never look inside).
struct LayoutState {
  cudaDataType_t type;
  std::uint64_t rows;
  std::uint64_t cols;
  std::int64_t ld;
};
struct OperationState {
  cublasComputeType_t compute;
  cudaDataType_t scale;
  cublasOperation_t trans_a;
  cublasOperation_t trans_b;
};

LayoutState& state(cublasLtMatrixLayout_t layout) { return *reinterpret_cast<LayoutState*>(layout); }
OperationState& state(cublasLtMatmulDesc_t operation) { return *reinterpret_cast<OperationState*>(operation); }

bool supported_type(cudaDataType_t type) { return type == CUDA_R_16BF || type == CUDA_R_32F; }

float load(const void* data, cudaDataType_t type, std::size_t index) {
  if (type == CUDA_R_32F) return static_cast<const float*>(data)[index];
  return __bfloat162float(static_cast<const __nv_bfloat16*>(data)[index]);
}

void store(void* data, cudaDataType_t type, std::size_t index, float value) {
  if (type == CUDA_R_32F) {
    static_cast<float*>(data)[index] = value;
  } else {
    static_cast<__nv_bfloat16*>(data)[index] = __float2bfloat16(value);
  }
}

// A column-major (rows, cols) matrix with leading dimension ld, widened to packed fp32 (ld = rows).
std::vector<float> widened(const void* data, const LayoutState& layout) {
  std::vector<float> out(layout.rows * layout.cols);
  for (std::uint64_t c = 0; c < layout.cols; ++c)
    for (std::uint64_t r = 0; r < layout.rows; ++r)
      out[c * layout.rows + r] = load(data, layout.type, c * static_cast<std::uint64_t>(layout.ld) + r);
  return out;
}

}  // namespace

extern "C" {

cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  *handle = new cublasLtContext{};
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout, cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
  if (!supported_type(type) || ld < static_cast<std::int64_t>(rows)) return CUBLAS_STATUS_NOT_SUPPORTED;
  *layout = reinterpret_cast<cublasLtMatrixLayout_t>(new LayoutState{type, rows, cols, ld});
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  delete &state(layout);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* operation, cublasComputeType_t compute,
                                        cudaDataType_t scale) {
  if (compute != CUBLAS_COMPUTE_32F || scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  *operation = reinterpret_cast<cublasLtMatmulDesc_t>(new OperationState{compute, scale, CUBLAS_OP_N, CUBLAS_OP_N});
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t operation) {
  delete &state(operation);
  return CUBLAS_STATUS_SUCCESS;
}

// Only the transposes: an attribute the emulator does not model is refused, so code that starts to rely on one
// (an epilogue, a scale pointer mode) fails here instead of computing something else.
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t operation, cublasLtMatmulDescAttributes_t attribute,
                                              const void* buffer, size_t bytes) {
  if (bytes != sizeof(cublasOperation_t)) return CUBLAS_STATUS_INVALID_VALUE;
  cublasOperation_t value;
  std::memcpy(&value, buffer, sizeof value);
  if (value != CUBLAS_OP_N && value != CUBLAS_OP_T) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (attribute == CUBLASLT_MATMUL_DESC_TRANSA) {
    state(operation).trans_a = value;
  } else if (attribute == CUBLASLT_MATMUL_DESC_TRANSB) {
    state(operation).trans_b = value;
  } else {
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* preference) {
  *preference = new cublasLtMatmulPreferenceOpaque_t{};
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t preference) {
  delete preference;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t,
                                                    const void* buffer, size_t) {
  return buffer == nullptr ? CUBLAS_STATUS_INVALID_VALUE : CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
                                              cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                              cublasLtMatmulPreference_t, int requested,
                                              cublasLtMatmulHeuristicResult_t results[], int* returned) {
  if (requested <= 0) return CUBLAS_STATUS_INVALID_VALUE;
  results[0] = cublasLtMatmulHeuristicResult_t{};
  results[0].state = CUBLAS_STATUS_SUCCESS;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}

// D = alpha op(A) op(B) + beta C, column-major, alpha and beta host floats read at the call; the product runs in
// the stream's order.
cublasStatus_t cublasLtMatmul(cublasLtHandle_t, cublasLtMatmulDesc_t operation, const void* alpha, const void* a,
                              cublasLtMatrixLayout_t a_layout, const void* b, cublasLtMatrixLayout_t b_layout,
                              const void* beta, const void* c, cublasLtMatrixLayout_t c_layout, void* d,
                              cublasLtMatrixLayout_t d_layout, const cublasLtMatmulAlgo_t* algorithm, void*, size_t,
                              cudaStream_t stream) {
  if (algorithm == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  const OperationState& op = state(operation);
  const LayoutState la = state(a_layout), lb = state(b_layout), lc = state(c_layout), ld = state(d_layout);
  const bool ta = op.trans_a == CUBLAS_OP_T, tb = op.trans_b == CUBLAS_OP_T;
  const std::uint64_t m = ta ? la.cols : la.rows, k = ta ? la.rows : la.cols;
  const std::uint64_t n = tb ? lb.rows : lb.cols;
  if ((tb ? lb.cols : lb.rows) != k || lc.rows != m || lc.cols != n || ld.rows != m || ld.cols != n ||
      lc.type != ld.type)
    return CUBLAS_STATUS_INVALID_VALUE;
  const float scale = *static_cast<const float*>(alpha), keep = *static_cast<const float*>(beta);
  diverge::emu::count(diverge::emu::Counted::matmul);
  diverge::emu::enqueue(stream, [=] {
    const std::vector<float> wa = widened(a, la), wb = widened(b, lb);
    std::vector<float> product(m * n);
    cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(k), 1.0f, wa.data(), static_cast<int>(la.rows), wb.data(),
                static_cast<int>(lb.rows), 0.0f, product.data(), static_cast<int>(m));
    for (std::uint64_t col = 0; col < n; ++col)
      for (std::uint64_t row = 0; row < m; ++row) {
        float value = scale * product[col * m + row];
        // beta = 0 never reads C, as cuBLAS does not: C may hold anything, NaN included.
        if (keep != 0.0f) value += keep * load(c, lc.type, col * static_cast<std::uint64_t>(lc.ld) + row);
        store(d, ld.type, col * static_cast<std::uint64_t>(ld.ld) + row, value);
      }
  });
  return CUBLAS_STATUS_SUCCESS;
}

}  // extern "C"
