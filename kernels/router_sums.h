// The router's auxiliary losses in a layout every backend shares: the sums the router takes for them as it writes the
// probabilities (column sums over fixed chunks of rows, each row's logsumexp), and what its backward needs to add
// their gradients in its own pass.
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

// The load balance's and the z-loss's gradients, which the router's backward adds to the gates' in its one pass over
// dlogits: the load balance's d probs (dloss E / tokens) f_e, f_e = counts[e] / sum(counts), the same for every
// token; the z-loss's (dloss 2 / tokens) lse[t] p_te. A null pointer leaves its term out.
template <class T>
struct RouterAuxGradPtrs {
  const std::int32_t* counts = nullptr;  // (experts): routed assignments per expert, as the loss counted them
  T load_balance = 0;                    // dloss of the load-balance loss
  const T* lse = nullptr;                // (tokens): each token's logsumexp (RouterSumPtrs::lse)
  T z = 0;                               // dloss of the z-loss
};

}  // namespace diverge
