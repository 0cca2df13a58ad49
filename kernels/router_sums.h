// The sums the router takes for its auxiliary losses as it writes the probabilities, in a layout every backend
// shares: column sums of the probabilities over fixed chunks of rows, and each row's logsumexp.
#pragma once

#include <cstdint>

namespace diverge {

// Rows per chunk of the probability sums: the summation order depends on the shape alone, on every device.
constexpr std::int64_t kRouterSumRows = 128;

constexpr std::int64_t router_sum_chunks(std::int64_t tokens) { return (tokens + kRouterSumRows - 1) / kRouterSumRows; }

// P is the element type, const or not; a router that takes no sums has both null.
template <class P>
struct RouterSumPtrs {
  P* prob_sums = nullptr;  // (router_sum_chunks(tokens), experts): chunk c's sum over its rows of probs, rows in order
  P* lse = nullptr;        // (tokens): logsumexp of each token's logits
};

}  // namespace diverge
