// CUDA MoE dispatch and combine: the routing plan, the gather into expert-grouped bf16 rows, the weighted sums back.
#pragma once

#include <cstdint>

#include "kernels/cuda/bf16_bits.h"

namespace diverge::cuda {

// The plan of topk (tokens, top_k), copy c = t * top_k + j, exactly as the CPU builds it: counts (experts), offsets
// (experts + 1), row_of_copy (tokens * top_k) and copy_of_row (tokens * top_k), each expert's rows in copy order.
// read_back: throws Error, as the CPU does and with its message, on the first copy whose expert lies outside
// [0, experts), before writing the plan; learning that costs one read-back of a flag (a wait for the device) per
// call. Without it nothing is read back: an expert outside the range is planned as the nearest one inside it.
void route_plan(const std::int32_t* topk, std::int64_t tokens, std::int64_t top_k, std::int64_t experts,
                std::int32_t* counts, std::int32_t* offsets, std::int32_t* row_of_copy, std::int32_t* copy_of_row,
                bool read_back);

// grouped (tokens * top_k, dim) row r = x (tokens, dim) [copy_of_row[r] / top_k], bit for bit.
void dispatch_forward(const std::int32_t* copy_of_row, std::int64_t tokens, std::int64_t top_k, const bf16_bits* x,
                      std::int64_t dim, bf16_bits* grouped);

// dx (tokens, dim) = sum over j in order of dgrouped (tokens * top_k, dim) [row_of_copy[t * top_k + j]], in fp32,
// rounded once; overwritten, or (accumulate) the sum starts from dx's old value.
void dispatch_backward(const std::int32_t* row_of_copy, std::int64_t tokens, std::int64_t top_k,
                       const bf16_bits* dgrouped, std::int64_t dim, bf16_bits* dx, bool accumulate);

// out (tokens, dim) = sum over j in order of gates (tokens, top_k, fp32) [t][j] * expert_out (tokens * top_k, dim)
// [row_of_copy[t * top_k + j]], in fp32, rounded once; overwritten, or (accumulate) the sum starts from out's old
// value.
void combine_forward(const std::int32_t* row_of_copy, std::int64_t tokens, std::int64_t top_k,
                     const bf16_bits* expert_out, const float* gates, std::int64_t dim, bf16_bits* out,
                     bool accumulate);

// dexpert_out (tokens * top_k, dim) row of copy (t, j) = gates[t][j] * dout (tokens, dim) [t]; dgates (tokens, top_k,
// fp32) [t][j] = dot(dout[t], that copy's row of expert_out), summed in an order fixed by dim. Both overwritten.
void combine_backward(const std::int32_t* row_of_copy, std::int64_t tokens, std::int64_t top_k, const bf16_bits* dout,
                      const bf16_bits* expert_out, const float* gates, std::int64_t dim, bf16_bits* dexpert_out,
                      float* dgates);

}  // namespace diverge::cuda
