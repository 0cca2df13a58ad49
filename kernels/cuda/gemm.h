// Matrix products on the GPU through cuBLASLt: bf16 operands, fp32 accumulation, a bf16 or fp32 result.
#pragma once

#include <cstdint>

#include "kernels/cuda/bf16_bits.h"
#include "kernels/gemm_shape.h"

namespace diverge::cuda {

// The element type of a product's result (and of what it accumulates onto): bf16 for activations, fp32 for
// parameter gradients and for the logits that a softmax reads.
enum class Result : std::uint8_t { bf16, f32 };

// c (m, n) = op(a) @ op(b), row-major as GemmShape says, added to c when accumulate; a and b bf16, products summed in
// fp32 and c rounded once. The same shapes give the same bits on every run (cuBLASLt is deterministic for a fixed
// algorithm, and the algorithm is chosen once per shape).
void gemm(const GemmShape& s, const bf16_bits* a, const bf16_bits* b, void* c, Result c_type, bool accumulate);

// The gradient side of a product: a pointer, its element type and whether it is added to.
struct GemmGradient {
  void* data = nullptr;  // null: not wanted
  Result type = Result::bf16;
  bool accumulate = false;
};

// Gradients of c = op(a) @ op(b) from dc, in a's and b's stored layouts (gradient_of_a / gradient_of_b).
void gemm_backward(const GemmShape& s, const bf16_bits* dc, const bf16_bits* a, const bf16_bits* b, GemmGradient da,
                   GemmGradient db);

}  // namespace diverge::cuda
