// CUDA load-balance loss (Switch form) in fp32, in an order fixed by the shape; its gradient joins the router's
// backward (kernels/cuda/router.h).
#pragma once

#include <cstdint>

namespace diverge::cuda {

// *loss (one device float, or added to it with accumulate) = E * sum_e f_e P_e, with f_e = counts (experts, i32)
// [e] / sum(counts) and P_e the mean over the rows of the probabilities, from the router's chunk sums prob_sums
// (router_sum_chunks(rows), experts). NaN when no assignment was counted: the CPU reference refuses that, which the
// device cannot without copying the counts back.
void load_balance_loss(const float* prob_sums, const std::int32_t* counts, std::int64_t rows, std::int64_t experts,
                       float* loss, bool accumulate);


}  // namespace diverge::cuda
