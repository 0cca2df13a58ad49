// The shape of a matrix product and of the two products of its backward pass, shared by every backend's GEMMs.
#pragma once

#include <cstdint>

namespace diverge {

// Extents and layout of c (m, n) = op(a) (m, k) @ op(b) (k, n), all row-major; a is stored (m, k), or (k, m) when
// trans_a; b is stored (k, n), or (n, k) when trans_b.
struct GemmShape {
  std::int64_t m;
  std::int64_t n;
  std::int64_t k;
  bool trans_a;
  bool trans_b;
};

// One product of the backward pass: the gradient, in its operand's stored layout, is shape's product of dc and the
// other operand, dc first or second.
struct GradientProduct {
  GemmShape shape;
  bool dc_first;
};

// d op(a) (m, k) = dc (m, n) @ op(b)^T; stored transposed: da (k, m) = op(b) (k, n) @ dc^T.
inline GradientProduct gradient_of_a(const GemmShape& s) {
  if (!s.trans_a) return {GemmShape{s.m, s.k, s.n, false, !s.trans_b}, true};
  return {GemmShape{s.k, s.m, s.n, s.trans_b, true}, false};
}

// d op(b) (k, n) = op(a)^T (k, m) @ dc (m, n); stored transposed: db (n, k) = dc^T @ op(a).
inline GradientProduct gradient_of_b(const GemmShape& s) {
  if (!s.trans_b) return {GemmShape{s.k, s.n, s.m, !s.trans_a, false}, false};
  return {GemmShape{s.n, s.k, s.m, true, s.trans_a}, true};
}

}  // namespace diverge
