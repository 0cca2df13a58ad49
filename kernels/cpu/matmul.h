// CPU matrix products (BLAS): c = op(a) @ op(b) and the two products of its backward pass.
#pragma once

#include <cstdint>

#include "kernels/gemm_shape.h"

namespace diverge::cpu {

using diverge::GemmShape;

// Row strides (elements) of the stored a, b and c, for products on sub-blocks of larger row-major arrays.
struct GemmStrides {
  std::int64_t lda;
  std::int64_t ldb;
  std::int64_t ldc;
};

// c (m, n) = op(a) @ op(b), added to c when accumulate. Runs in parallel over the fixed tiles of gemm_tiles, each
// a serial BLAS product, so c is bitwise the same for any thread count (a threaded BLAS splits the work, and with
// it the rounding, by its thread count).
template <class T>
void gemm(const GemmShape& s, const T* a, const T* b, T* c, bool accumulate);

// The same product on strided operands.
template <class T>
void gemm(const GemmShape& s, const GemmStrides& ld, const T* a, const T* b, T* c, bool accumulate);

// The same product on the calling thread alone, for kernels that run many small products from inside their own
// OpenMP tasks; they hold a SerialBlasScope around their parallel region.
template <class T>
void serial_gemm(const GemmShape& s, const GemmStrides& ld, const T* a, const T* b, T* c, bool accumulate);

// Keeps the BLAS on the calling thread while alive: a threaded BLAS inside our OpenMP threads would oversubscribe
// the cores and split its products by thread count. Restores the previous thread count on exit.
class SerialBlasScope {
 public:
  SerialBlasScope();
  ~SerialBlasScope();
  SerialBlasScope(const SerialBlasScope&) = delete;
  SerialBlasScope& operator=(const SerialBlasScope&) = delete;

 private:
  int previous_threads_;
};

// Gradients of c = op(a) @ op(b): da in a's stored layout, db in b's; either may be null (not wanted). Each is
// overwritten or, with its accumulate flag, added to.
template <class T>
void gemm_backward(const GemmShape& s, const T* dc, const T* a, const T* b, T* da, bool accumulate_da, T* db,
                   bool accumulate_db);

}  // namespace diverge::cpu
