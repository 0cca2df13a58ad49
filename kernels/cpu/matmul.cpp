// CPU matrix products through OpenBLAS (row-major cblas_?gemm), float and double.
#include "kernels/cpu/matmul.h"

#include <cblas.h>

#include <limits>
#include <string>

#include "engine/error.h"

namespace diverge::cpu {

namespace {

blasint blas_extent(std::int64_t extent) {
  check(extent <= std::numeric_limits<blasint>::max(), "gemm",
        "extent " + std::to_string(extent) + " exceeds the BLAS integer range");
  return static_cast<blasint>(extent);
}

CBLAS_TRANSPOSE blas_trans(bool trans) { return trans ? CblasTrans : CblasNoTrans; }

void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint m, blasint n, blasint k, const float* a, blasint lda,
               const float* b, blasint ldb, float beta, float* c, blasint ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint m, blasint n, blasint k, const double* a, blasint lda,
               const double* b, blasint ldb, double beta, double* c, blasint ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

template <class T>
void gemm(const GemmShape& s, const GemmStrides& ld, const T* a, const T* b, T* c, bool accumulate) {
  if (s.m == 0 || s.n == 0) return;
  if (s.k == 0) {
    // BLAS skips the product but still scales c by beta; spell out the empty sum instead of relying on it.
    if (!accumulate)
      for (std::int64_t i = 0; i < s.m; ++i)
        for (std::int64_t j = 0; j < s.n; ++j) c[i * ld.ldc + j] = T(0);
    return;
  }
  blas_gemm(blas_trans(s.trans_a), blas_trans(s.trans_b), blas_extent(s.m), blas_extent(s.n), blas_extent(s.k), a,
            blas_extent(ld.lda), b, blas_extent(ld.ldb), accumulate ? T(1) : T(0), c, blas_extent(ld.ldc));
}

template <class T>
void gemm(const GemmShape& s, const T* a, const T* b, T* c, bool accumulate) {
  const GemmStrides packed{s.trans_a ? s.m : s.k, s.trans_b ? s.k : s.n, s.n};
  gemm(s, packed, a, b, c, accumulate);
}

// Only a pthreads OpenBLAS needs pinning: the OpenMP build already runs serially inside a parallel region, and its
// openblas_set_num_threads would set OpenMP's own thread count, serialising the caller's region too.
SerialBlasScope::SerialBlasScope()
    : previous_threads_(openblas_get_parallel() == OPENBLAS_THREAD ? openblas_get_num_threads() : 0) {
  if (previous_threads_ > 0) openblas_set_num_threads(1);
}

SerialBlasScope::~SerialBlasScope() {
  if (previous_threads_ > 0) openblas_set_num_threads(previous_threads_);
}

template <class T>
void gemm_backward(const GemmShape& s, const T* dc, const T* a, const T* b, T* da, bool accumulate_da, T* db,
                   bool accumulate_db) {
  if (da != nullptr) {
    // d op(a) (m, k) = dc (m, n) @ op(b)^T; stored transposed: da (k, m) = op(b) (k, n) @ dc^T.
    if (!s.trans_a) {
      gemm(GemmShape{s.m, s.k, s.n, false, !s.trans_b}, dc, b, da, accumulate_da);
    } else {
      gemm(GemmShape{s.k, s.m, s.n, s.trans_b, true}, b, dc, da, accumulate_da);
    }
  }
  if (db != nullptr) {
    // d op(b) (k, n) = op(a)^T (k, m) @ dc (m, n); stored transposed: db (n, k) = dc^T @ op(a).
    if (!s.trans_b) {
      gemm(GemmShape{s.k, s.n, s.m, !s.trans_a, false}, a, dc, db, accumulate_db);
    } else {
      gemm(GemmShape{s.n, s.k, s.m, true, s.trans_a}, dc, a, db, accumulate_db);
    }
  }
}

template void gemm<float>(const GemmShape&, const float*, const float*, float*, bool);
template void gemm<double>(const GemmShape&, const double*, const double*, double*, bool);
template void gemm<float>(const GemmShape&, const GemmStrides&, const float*, const float*, float*, bool);
template void gemm<double>(const GemmShape&, const GemmStrides&, const double*, const double*, double*, bool);
template void gemm_backward<float>(const GemmShape&, const float*, const float*, const float*, float*, bool, float*,
                                   bool);
template void gemm_backward<double>(const GemmShape&, const double*, const double*, const double*, double*, bool,
                                    double*, bool);

}  // namespace diverge::cpu
