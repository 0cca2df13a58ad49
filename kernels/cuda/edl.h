// CUDA Expert Divergence Loss (model/EDL.md) in its three steps, fp32 storage on the device as on the CPU.
#pragma once

#include <cstdint>

#include "kernels/cpu/sequence_means.h"

namespace diverge::cuda {

// Invalid batches. The CPU throws on a domain id outside [0, M), a mask value other than 0 or 1 and a sequence
// without a target-bearing token. On CUDA nothing is read back during the step, so the kernels report them in their
// outputs instead: (a) writes every sum and count NaN, (b) turns a count that is not a finite number >= 0 into a
// NaN loss, JSD matrix and dsums, and (c) writes NaN into the rows of such a sequence. The trainer's non-finite
// check stops on the loss; under the global scope the NaN survives the all-reduce, so every rank stops. (The model
// validates its domain ids on the host before they reach the device, and passes no mask.)

// (a) sums (M, E) = sum of q_s over each domain's sequences in sequence order, counts (M) = the domain's sequences;
// probs (S * T, E), mask (S, T) or null (every token counts), domains (S). q_s and the sums run in double and are
// rounded once to float, as on the CPU: domains that route almost alike have JSDs near eps, where the rounding of
// fp32 sums of T tokens would show, and the step is bound by its one read of probs, not by its adds.
void edl_domain_sums(const cpu::SequenceShape& s, const float* probs, const std::int32_t* mask,
                     const std::int32_t* domains, float* sums, float* counts);

// (b) in double on one block (M is the label count): jsd (M, M) overwritten (0 on the diagonal and for absent
// domains), present (M) 0/1 unless null, dsums (M, E) = d loss / d sums unless null, *loss = the mean over present
// pairs of -log(JSD + eps), 0 with fewer than two domains present, or added to *loss with accumulate. Everything is
// NaN when a count is not a finite number >= 0. All pointers are device memory.
void edl_loss_from_sums(const float* sums, const float* counts, std::int64_t labels, std::int64_t experts, float eps,
                        float* jsd, std::int32_t* present, float* dsums, float* loss, bool accumulate);

// (c) dlogits (S * T, E) += coef * p_t * (g - <g, p_t>) for each target-bearing token t of sequence s, with
// g = dsums[domain(s)] / |tok(s)|: a warp per token, <g, p_t> by a shuffle tree.
void edl_backward(const cpu::SequenceShape& s, const float* probs, const std::int32_t* mask,
                  const std::int32_t* domains, const float* dsums, float coef, float* dlogits);

}  // namespace diverge::cuda
