// CUDA sequence-level routing shared by EDL and the routing metrics: each sequence's validated target count, its
// mean router probabilities q_s in double, and their sums by domain in sequence order.
#pragma once

#include <cstdint>

#include "kernels/cpu/sequence_means.h"

namespace diverge::cuda {

// (S) i32 in device scratch: the target-bearing tokens of each sequence, or -1 for a sequence the CPU would refuse
// (a domain id outside [0, M), a mask value other than 0 or 1, no target-bearing token). mask (S, T) or null (every
// token counts); domains (S). Valid until the next call.
const std::int32_t* sequence_targets(const cpu::SequenceShape& s, const std::int32_t* mask,
                                     const std::int32_t* domains);

// Device scratch, valid until the next call of sequence_means.
struct SequenceMeans {
  const std::int32_t* targets;  // (S), as sequence_targets
  const double* q;              // (S, E): q_s, summed in double in an order fixed by the shape
  const double* q_log_q;        // (S): sum_e q_se log q_se (the log clamped as model/EDL.md says), or null
};

// q_s of probs (S * T, E) over the target-bearing tokens; sum_e q log q as well when with_q_log_q.
SequenceMeans sequence_means(const cpu::SequenceShape& s, const float* probs, const std::int32_t* mask,
                             const std::int32_t* domains, bool with_q_log_q);

// sums (M, E) = sum of q_s over each domain's sequences in sequence order, counts (M) = the domain's sequences,
// log_sums (M) = sum of q_log_q by domain unless null; all overwritten, every value NaN when a sequence is invalid.
// T is float (EDL's buffers) or double (the routing-metric sums).
template <class T>
void domain_totals(const cpu::SequenceShape& s, const SequenceMeans& means, const std::int32_t* domains, T* sums,
                   T* counts, T* log_sums);

}  // namespace diverge::cuda
