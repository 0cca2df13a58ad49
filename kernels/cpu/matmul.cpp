// CPU matrix products through OpenBLAS (row-major cblas_?gemm), float and double, parallel over fixed tiles.
#include "kernels/cpu/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <limits>
#include <string>

#include "engine/error.h"
#include "kernels/cpu/gemm_tiles.h"

namespace diverge::cpu {

namespace {

blasint blas_extent(std::int64_t extent) {
  check(extent <= std::numeric_limits<blasint>::max(), "gemm",
        "extent " + std::to_string(extent) + " exceeds the BLAS integer range");
  return static_cast<blasint>(extent);
}

// Checked before a parallel region, where an exception could not leave its thread; the tiles are no larger.
void check_blas_range(const GemmShape& s, const GemmStrides& ld) {
  for (const std::int64_t extent : {s.m, s.n, s.k, ld.lda, ld.ldb, ld.ldc}) blas_extent(extent);
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
void serial_gemm(const GemmShape& s, const GemmStrides& ld, const T* a, const T* b, T* c, bool accumulate) {
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
void gemm(const GemmShape& s, const GemmStrides& ld, const T* a, const T* b, T* c, bool accumulate) {
  if (s.m == 0 || s.n == 0) return;
  check_blas_range(s, ld);
  const GemmTiles tiles = gemm_tiles(s.m, s.n);
  const SerialBlasScope serial_blas;
  // Tiles take the same time only roughly (the last row and column are smaller, other work shares the cores), so
  // threads take them one by one; which thread computes a tile does not change its bits.
#pragma omp parallel for schedule(dynamic)
  for (std::int64_t tile = 0; tile < tiles.count(); ++tile) {
    const std::int64_t row = tile / tiles.across * tiles.rows;
    const std::int64_t col = tile % tiles.across * tiles.cols;
    const GemmShape part{std::min(tiles.rows, s.m - row), std::min(tiles.cols, s.n - col), s.k, s.trans_a, s.trans_b};
    // op(a)'s rows [row, row + part.m) and op(b)'s columns [col, col + part.n), in their stored layouts.
    const T* a_part = s.trans_a ? a + row : a + row * ld.lda;
    const T* b_part = s.trans_b ? b + col * ld.ldb : b + col;
    serial_gemm(part, ld, a_part, b_part, c + row * ld.ldc + col, accumulate);
  }
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
    const GradientProduct p = gradient_of_a(s);
    gemm(p.shape, p.dc_first ? dc : b, p.dc_first ? b : dc, da, accumulate_da);
  }
  if (db != nullptr) {
    const GradientProduct p = gradient_of_b(s);
    gemm(p.shape, p.dc_first ? dc : a, p.dc_first ? a : dc, db, accumulate_db);
  }
}

template void gemm<float>(const GemmShape&, const float*, const float*, float*, bool);
template void gemm<double>(const GemmShape&, const double*, const double*, double*, bool);
template void gemm<float>(const GemmShape&, const GemmStrides&, const float*, const float*, float*, bool);
template void gemm<double>(const GemmShape&, const GemmStrides&, const double*, const double*, double*, bool);
template void serial_gemm<float>(const GemmShape&, const GemmStrides&, const float*, const float*, float*, bool);
template void serial_gemm<double>(const GemmShape&, const GemmStrides&, const double*, const double*, double*, bool);
template void gemm_backward<float>(const GemmShape&, const float*, const float*, const float*, float*, bool, float*,
                                   bool);
template void gemm_backward<double>(const GemmShape&, const double*, const double*, const double*, double*, bool,
                                    double*, bool);

}  // namespace diverge::cpu
