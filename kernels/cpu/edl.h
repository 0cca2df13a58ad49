// CPU Expert Divergence Loss (model/EDL.md) in three steps: (a) per-domain sums of sequence routing means, (b) the loss
// and its gradient with respect to those sums, (c) that gradient carried back into the router logits.
#pragma once

#include <cstdint>

#include "kernels/cpu/sequence_means.h"

namespace diverge::cpu {

// (a) sums (labels, experts) = sum of q_s over the sequences of each domain; counts (labels) = how many sequences
// each domain has. Both overwritten. probs (S * T, E); mask (S, T) 0/1 or null (all tokens); domains (S).
template <class T>
void edl_domain_sums(const SequenceShape& s, const T* probs, const std::int32_t* mask, const std::int32_t* domains,
                     T* sums, T* counts);

// (b) r_j = sums_j / counts_j for every domain with counts_j > 0 (present); returns
// L = mean over present pairs j < k of -log(JSD(r_j, r_k) + eps), or 0 when fewer than two domains are present.
// Overwrites jsd (labels, labels) (symmetric; 0 on the diagonal and for absent domains), present (labels) 0/1 unless
// null, and dsums (labels, experts) = dL / d sums unless null (0 rows for absent domains; all 0 when L is 0).
// Computed in double whatever T is: pairwise JSDs near zero would otherwise drown in rounding next to eps.
template <class T>
T edl_loss_from_sums(const T* sums, const T* counts, std::int64_t labels, std::int64_t experts, double eps, T* jsd,
                     std::int32_t* present, T* dsums);

// (c) dlogits (S * T, E) += coef * dL/dz: each target-bearing token t of sequence s gets dL/dp_t =
// dsums[domain(s)] / |tok(s)| (dL/dq_s = dL/dsums_j, since sums_j is the plain sum of its q_s), then the softmax
// backward p_t * (g - <g, p_t>). Other tokens get nothing.
template <class T>
void edl_backward(const SequenceShape& s, const T* probs, const std::int32_t* mask, const std::int32_t* domains,
                  const T* dsums, T coef, T* dlogits);

}  // namespace diverge::cpu
