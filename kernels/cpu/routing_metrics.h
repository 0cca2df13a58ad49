// CPU accumulation of the routing-metric sums of one micro-batch: sequence means by domain, their sum_e q log q,
// token volumes and top-k assignments by domain and expert.
#pragma once

#include <cstdint>

#include "kernels/cpu/sequence_means.h"

namespace diverge::cpu {

// Arrays the micro-batch is added into (labels M, experts E).
struct RoutingSumsRef {
  double* sequences;    // (M)
  double* q_sum;        // (M, E)
  double* q_log_q;      // (M)
  double* tokens;       // (M)
  double* assignments;  // (M, E)
};

// A window's sums as one array, on any device: the five arrays above back to back, in that order.
inline std::int64_t window_size(std::int64_t labels, std::int64_t experts) { return 3 * labels + 2 * labels * experts; }
inline RoutingSumsRef window_parts(double* window, std::int64_t labels, std::int64_t experts) {
  double* q_sum = window + labels;
  double* q_log_q = q_sum + labels * experts;
  double* tokens = q_log_q + labels;
  return {window, q_sum, q_log_q, tokens, tokens + labels};
}

// Throws Error naming routing_sums_add when an expert id of topk (S * T, top_k) lies outside [0, E).
void check_topk(const SequenceShape& s, const std::int32_t* topk, std::int64_t top_k);

// probs (S * T, E); mask (S, T) 0/1 or null; domains (S); topk (S * T, top_k) expert ids, or null (then tokens and
// assignments are left alone). Throws Error on a bad mask value, domain id or expert id.
template <class T>
void routing_sums_add(const SequenceShape& s, const T* probs, const std::int32_t* mask, const std::int32_t* domains,
                      const std::int32_t* topk, std::int64_t top_k, const RoutingSumsRef& out);

}  // namespace diverge::cpu
