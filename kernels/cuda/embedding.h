// CUDA embedding: a row gather of the bf16 table, and a deterministic scatter-add into its fp32 gradient.
#pragma once

#include <cstdint>

#include "kernels/cuda/bf16_bits.h"

namespace diverge::cuda {

// out (n, dim) = table (vocab, dim) [ids (n)], bit for bit. An id outside [0, vocab) gives a row of NaN, which the
// training step's non-finite check stops on (the loader has already refused such ids).
void embedding_forward(const std::int32_t* ids, std::int64_t n, const bf16_bits* table, std::int64_t vocab,
                       std::int64_t dim, bf16_bits* out);

// dtable (vocab, dim, fp32) += the rows of dout (n, dim) scattered by ids (n): every table row sums its tokens' rows
// in token order onto its old value, as the CPU reference does, so the result is the CPU's to the bit.
void embedding_backward(const std::int32_t* ids, std::int64_t n, const bf16_bits* dout, std::int64_t vocab,
                        std::int64_t dim, float* dtable);

}  // namespace diverge::cuda
