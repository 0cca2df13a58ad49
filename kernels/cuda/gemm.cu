// cuBLASLt behind cuda::gemm: row-major products mapped onto its column-major layouts, on the context's handle and
// stream with one workspace, and each problem's descriptors and algorithm built once and kept.
#include "kernels/cuda/gemm.h"

#include <cublasLt.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "kernels/cuda/context.h"
#include "kernels/cuda/cuda_source.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/scratch.h"

namespace diverge::cuda {
namespace {

constexpr std::size_t kWorkspaceBytes = 32u << 20;  // what cuBLASLt's Hopper kernels ask for at most

void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error("cuda::gemm", std::string(what) + " failed: cuBLAS status " + std::to_string(static_cast<int>(status)));
}

cudaDataType_t data_type(Result type) { return type == Result::bf16 ? CUDA_R_16BF : CUDA_R_32F; }

// A column-major view of a row-major matrix stored (rows, cols) is (cols, rows) with leading dimension cols.
struct Layout {
  cublasLtMatrixLayout_t handle = nullptr;
  Layout(cudaDataType_t type, std::int64_t rows, std::int64_t cols) {
    check_cublas(cublasLtMatrixLayoutCreate(&handle, type, static_cast<std::uint64_t>(cols),
                                            static_cast<std::uint64_t>(rows), cols),
                 "cublasLtMatrixLayoutCreate");
  }
  ~Layout() { cublasLtMatrixLayoutDestroy(handle); }
  Layout(const Layout&) = delete;
  Layout& operator=(const Layout&) = delete;
};

struct Operation {
  cublasLtMatmulDesc_t handle = nullptr;
  Operation(bool trans_first, bool trans_second) {
    check_cublas(cublasLtMatmulDescCreate(&handle, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
    const cublasOperation_t ops[2] = {trans_first ? CUBLAS_OP_T : CUBLAS_OP_N, trans_second ? CUBLAS_OP_T : CUBLAS_OP_N};
    check_cublas(cublasLtMatmulDescSetAttribute(handle, CUBLASLT_MATMUL_DESC_TRANSA, &ops[0], sizeof ops[0]),
                 "setting TRANSA");
    check_cublas(cublasLtMatmulDescSetAttribute(handle, CUBLASLT_MATMUL_DESC_TRANSB, &ops[1], sizeof ops[1]),
                 "setting TRANSB");
  }
  ~Operation() { cublasLtMatmulDescDestroy(handle); }
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;
};

// The largest power of two up to 256 that divides an address: what the library needs to know of each buffer.
std::uint32_t alignment_of(const void* pointer) {
  const auto address = reinterpret_cast<std::uintptr_t>(pointer);
  std::uint32_t alignment = 256;
  while (alignment > 1 && address % alignment != 0) alignment /= 2;
  return alignment;
}

struct Alignments {
  std::uint32_t first;
  std::uint32_t second;
  std::uint32_t out;
};

// Everything cuBLASLt needs for one problem: its descriptors and the algorithm the library's heuristic picks for it
// and its pointer alignments (an expert's rows may start anywhere in a buffer). Built once per problem and kept, so
// a training step creates no descriptor and a shape always runs the same kernel.
struct Plan {
  // Row-major c = op(a) op(b) is column-major c^T = op(b)^T op(a)^T: cuBLASLt's first operand is b.
  Plan(cublasLtHandle_t handle, const GemmShape& s, Result c_type, const Alignments& aligned)
      : first(CUDA_R_16BF, s.trans_b ? s.n : s.k, s.trans_b ? s.k : s.n),
        second(CUDA_R_16BF, s.trans_a ? s.k : s.m, s.trans_a ? s.m : s.k),
        out(data_type(c_type), s.m, s.n),
        op(s.trans_b, s.trans_a) {
    cublasLtMatmulPreference_t preference = nullptr;
    check_cublas(cublasLtMatmulPreferenceCreate(&preference), "cublasLtMatmulPreferenceCreate");
    const std::size_t bytes = kWorkspaceBytes;
    cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &bytes, sizeof bytes);
    for (const auto& [attribute, value] : {std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, aligned.first},
                                           std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, aligned.second},
                                           std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, aligned.out},
                                           std::pair{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, aligned.out}})
      cublasLtMatmulPreferenceSetAttribute(preference, attribute, &value, sizeof value);
    cublasLtMatmulHeuristicResult_t result{};
    int returned = 0;
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handle, op.handle, first.handle, second.handle,
                                                                 out.handle, out.handle, preference, 1, &result,
                                                                 &returned);
    cublasLtMatmulPreferenceDestroy(preference);
    check_cublas(status, "cublasLtMatmulAlgoGetHeuristic");
    if (returned == 0)
      throw Error("cuda::gemm", "cuBLASLt has no algorithm for a " + std::to_string(s.m) + "x" + std::to_string(s.n) +
                                    "x" + std::to_string(s.k) + " product");
    algorithm = result.algo;
  }

  Layout first;
  Layout second;
  Layout out;
  Operation op;
  cublasLtMatmulAlgo_t algorithm{};
};

// Built after the context (its constructor asks for it), so torn down before the handle its plans were made with.
class Library {
 public:
  Library() : handle_(context().blas()) {}
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  cublasLtHandle_t handle() const { return handle_; }
  void* workspace() { return workspace_.get<unsigned char>(kWorkspaceBytes); }

  const Plan& plan(const GemmShape& s, Result c_type, const Alignments& aligned) {
    const auto key = std::make_tuple(s.m, s.n, s.k, s.trans_a, s.trans_b, c_type, aligned.first, aligned.second,
                                     aligned.out);
    auto& slot = plans_[key];
    if (!slot) slot = std::make_unique<Plan>(handle_, s, c_type, aligned);
    return *slot;
  }

 private:
  cublasLtHandle_t handle_ = nullptr;
  Scratch workspace_{"cuBLASLt workspace"};
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, bool, bool, Result, std::uint32_t, std::uint32_t,
                      std::uint32_t>,
           std::unique_ptr<Plan>>
      plans_;
};

Library& library() {
  static Library instance;
  return instance;
}

}  // namespace

void gemm(const GemmShape& s, const bf16_bits* a, const bf16_bits* b, void* c, Result c_type, bool accumulate) {
  if (s.m == 0 || s.n == 0) return;
  if (s.k == 0) {
    // An empty sum: cuBLASLt would still scale c by beta; say what the product is instead.
    if (!accumulate) zero(c, static_cast<std::size_t>(s.m * s.n) * (c_type == Result::bf16 ? 2 : 4));
    return;
  }
  Library& lib = library();
  const Plan& plan = lib.plan(s, c_type, {alignment_of(b), alignment_of(a), alignment_of(c)});
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  check_cublas(cublasLtMatmul(lib.handle(), plan.op.handle, &alpha, b, plan.first.handle, a, plan.second.handle, &beta,
                              c, plan.out.handle, c, plan.out.handle, &plan.algorithm, lib.workspace(),
                              kWorkspaceBytes, context().stream()),
               "cublasLtMatmul");
}

void gemm_backward(const GemmShape& s, const bf16_bits* dc, const bf16_bits* a, const bf16_bits* b, GemmGradient da,
                   GemmGradient db) {
  if (da.data != nullptr) {
    const GradientProduct p = gradient_of_a(s);
    gemm(p.shape, p.dc_first ? dc : b, p.dc_first ? b : dc, da.data, da.type, da.accumulate);
  }
  if (db.data != nullptr) {
    const GradientProduct p = gradient_of_b(s);
    gemm(p.shape, p.dc_first ? dc : a, p.dc_first ? a : dc, db.data, db.type, db.accumulate);
  }
}

}  // namespace diverge::cuda
