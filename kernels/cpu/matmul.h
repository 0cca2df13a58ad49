// CPU matrix products (BLAS): c = op(a) @ op(b) and the two products of its backward pass.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// Extents and layout of c (m, n) = op(a) (m, k) @ op(b) (k, n); a is stored (m, k), or (k, m) when trans_a;
// b is stored (k, n), or (n, k) when trans_b.
struct GemmShape {
  std::int64_t m;
  std::int64_t n;
  std::int64_t k;
  bool trans_a;
  bool trans_b;
};

// c (m, n) = op(a) @ op(b), added to c when accumulate.
template <class T>
void gemm(const GemmShape& s, const T* a, const T* b, T* c, bool accumulate);

// Gradients of c = op(a) @ op(b): da in a's stored layout, db in b's; either may be null (not wanted). Each is
// overwritten or, with its accumulate flag, added to.
template <class T>
void gemm_backward(const GemmShape& s, const T* dc, const T* a, const T* b, T* da, bool accumulate_da, T* db,
                   bool accumulate_db);

}  // namespace diverge::cpu
