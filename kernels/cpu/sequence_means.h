// Sequence-level routing distributions shared by EDL and the routing metrics: the validated target-token counts of
// each sequence and q_s, the mean router probability over a sequence's target-bearing tokens.
#pragma once

#include <cstdint>
#include <vector>

namespace diverge::cpu {

// Micro-batch of sequences, each `tokens` long, routed over `experts`, labelled with domain ids in [0, labels).
struct SequenceShape {
  std::int64_t sequences;  // S
  std::int64_t tokens;     // T, so token t of sequence s is row s * T + t of the router's (S * T, E) probabilities
  std::int64_t experts;    // E
  std::int64_t labels;     // M: domain ids lie in [0, M)
};

// (S): how many tokens of each sequence bear a target. mask (S, T) holds 0/1, or is null (every token counts).
// Throws Error naming `op` when a mask value is not 0 or 1, or a sequence has no target-bearing token (its q_s would
// be undefined).
std::vector<std::int64_t> target_counts(const char* op, const std::int32_t* mask, const SequenceShape& s);

// Throws Error naming `op` when a domain id of domains (S) lies outside [0, labels).
void check_domains(const char* op, const std::int32_t* domains, const SequenceShape& s);

// (S, E): q_s = mean of probs (S * T, E) over the target-bearing tokens of sequence s, summed in double; counts from
// target_counts.
template <class T>
std::vector<double> sequence_means(const T* probs, const std::int32_t* mask, const std::vector<std::int64_t>& counts,
                                   const SequenceShape& s);

}  // namespace diverge::cpu
