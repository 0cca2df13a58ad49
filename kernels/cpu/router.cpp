// CPU router: one token per iteration, in parallel; top-k by repeated arg-max over the logits, ties to the lower index;
// the backward with the auxiliary losses' gradients; the forced-balance assignment.
#include "kernels/cpu/router.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/load_balance.h"
#include "kernels/cpu/softmax.h"

namespace diverge::cpu {

namespace {

// Writes the top_k most probable experts, most probable first, chosen on the logits: the softmax is increasing in
// the logit, and unlike the rounded probabilities (exp(-3e-8) rounds to 1, so distinct logits can tie) the logits
// are the same bits on every backend, so the CUDA kernel makes exactly this choice. Among equal logits the lower
// index wins because only a strictly greater logit displaces the current best.
template <class T>
void choose_top_k(const T* logits, std::int64_t experts, std::int64_t top_k, std::vector<char>& taken,
                  std::int32_t* chosen) {
  std::fill(taken.begin(), taken.end(), char(0));
  for (std::int64_t slot = 0; slot < top_k; ++slot) {
    std::int64_t best = -1;
    for (std::int64_t e = 0; e < experts; ++e)
      if (!taken[e] && (best < 0 || logits[e] > logits[best])) best = e;
    taken[best] = 1;
    chosen[slot] = static_cast<std::int32_t>(best);
  }
}

// d probs of one token from its gate gradients: with renormalisation g_i = p_i / S, so dp_i = (dg_i - <dg, g>) / S.
template <class T>
void gate_grad_to_probs(const RouterShape& s, const T* probs, const std::int32_t* chosen, const T* gates,
                        const T* dgates, T* dprobs) {
  if (!s.renormalize) {
    for (std::int64_t i = 0; i < s.top_k; ++i) dprobs[chosen[i]] += dgates[i];
    return;
  }
  T chosen_sum = 0;
  T projection = 0;
  for (std::int64_t i = 0; i < s.top_k; ++i) {
    chosen_sum += probs[chosen[i]];
    projection += dgates[i] * gates[i];
  }
  for (std::int64_t i = 0; i < s.top_k; ++i) dprobs[chosen[i]] += (dgates[i] - projection) / chosen_sum;
}

}  // namespace

// The chunks' column sums of probs (tokens, experts), chunks in parallel, each one's rows in order.
template <class T>
void chunk_prob_sums(const T* probs, std::int64_t tokens, std::int64_t experts, T* prob_sums) {
  const std::int64_t chunks = router_sum_chunks(tokens);
#pragma omp parallel
  {
    std::vector<double> sums(static_cast<std::size_t>(experts));  // (experts)
#pragma omp for schedule(static)
    for (std::int64_t c = 0; c < chunks; ++c) {
      std::fill(sums.begin(), sums.end(), 0.0);
      for (std::int64_t t = c * kRouterSumRows; t < std::min(tokens, (c + 1) * kRouterSumRows); ++t)
        for (std::int64_t e = 0; e < experts; ++e) sums[e] += static_cast<double>(probs[t * experts + e]);
      for (std::int64_t e = 0; e < experts; ++e) prob_sums[c * experts + e] = static_cast<T>(sums[e]);
    }
  }
}

template <class T>
void router_forward(const RouterShape& s, const T* logits, T* probs, std::int32_t* topk, T* gates,
                    RouterSumPtrs<T> sums) {
  softmax_rows(logits, s.tokens, s.experts, probs);
  if (sums.prob_sums != nullptr) chunk_prob_sums(probs, s.tokens, s.experts, sums.prob_sums);
#pragma omp parallel
  {
    std::vector<char> taken(static_cast<std::size_t>(s.experts));  // (experts)
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < s.tokens; ++t) {
      const T* p = probs + t * s.experts;
      std::int32_t* chosen = topk + t * s.top_k;
      choose_top_k(logits + t * s.experts, s.experts, s.top_k, taken, chosen);
      T chosen_sum = 0;
      for (std::int64_t i = 0; i < s.top_k; ++i) chosen_sum += p[chosen[i]];
      const T divisor = s.renormalize ? chosen_sum : T(1);
      for (std::int64_t i = 0; i < s.top_k; ++i) gates[t * s.top_k + i] = p[chosen[i]] / divisor;
      if (sums.lse != nullptr) sums.lse[t] = logsumexp(logits + t * s.experts, s.experts);
    }
  }
}

template <class T>
void router_backward(const RouterShape& s, const T* probs, const std::int32_t* topk, const T* gates, const T* dgates,
                     const T* dprobs, RouterAuxGradPtrs<T> aux, T* dlogits, bool accumulate) {
  std::vector<T> balance;  // (experts): the load balance's d probs, the same for every token
  if (aux.counts != nullptr) {
    balance = routed_fraction<T>("router_backward", aux.counts, s.experts);
    const T scale = aux.load_balance * static_cast<T>(s.experts) / static_cast<T>(s.tokens);
    for (T& b : balance) b *= scale;
  }
  const T z_scale = s.tokens == 0 ? T(0) : aux.z * T(2) / static_cast<T>(s.tokens);
#pragma omp parallel
  {
    std::vector<T> dense(static_cast<std::size_t>(s.experts));  // (experts): this token's d probs
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < s.tokens; ++t) {
      const T* p = probs + t * s.experts;
      if (dprobs != nullptr) {
        std::copy_n(dprobs + t * s.experts, s.experts, dense.begin());
      } else {
        std::fill(dense.begin(), dense.end(), T(0));
      }
      for (std::size_t e = 0; e < balance.size(); ++e) dense[e] += balance[e];
      if (dgates != nullptr)
        gate_grad_to_probs(s, p, topk + t * s.top_k, gates + t * s.top_k, dgates + t * s.top_k, dense.data());
      const T z_shift = aux.lse == nullptr ? T(0) : z_scale * aux.lse[t];
      softmax_backward_row(p, dense.data(), s.experts, z_shift, accumulate, dlogits + t * s.experts);
    }
  }
}

template <class T>
void balanced_routing(std::int64_t tokens, std::int64_t experts, std::int64_t top_k, std::int32_t* topk, T* gates) {
#pragma omp parallel for schedule(static)
  for (std::int64_t c = 0; c < tokens * top_k; ++c) {
    topk[c] = static_cast<std::int32_t>(c % experts);
    gates[c] = T(1) / static_cast<T>(top_k);
  }
}

template void router_forward<float>(const RouterShape&, const float*, float*, std::int32_t*, float*,
                                    RouterSumPtrs<float>);
template void router_forward<double>(const RouterShape&, const double*, double*, std::int32_t*, double*,
                                     RouterSumPtrs<double>);
template void router_backward<float>(const RouterShape&, const float*, const std::int32_t*, const float*, const float*,
                                     const float*, RouterAuxGradPtrs<float>, float*, bool);
template void router_backward<double>(const RouterShape&, const double*, const std::int32_t*, const double*,
                                      const double*, const double*, RouterAuxGradPtrs<double>, double*, bool);

template void balanced_routing<float>(std::int64_t, std::int64_t, std::int64_t, std::int32_t*, float*);
template void balanced_routing<double>(std::int64_t, std::int64_t, std::int64_t, std::int32_t*, double*);

}  // namespace diverge::cpu
