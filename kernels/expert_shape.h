// The shapes and pointer bundles of the expert FFN over expert-grouped rows, shared by every backend.
#pragma once

#include <cstdint>
#include <string>

#include "engine/error.h"

namespace diverge {

struct ExpertShape {
  std::int64_t experts;
  std::int64_t rows;    // R, all experts' rows together
  std::int64_t dim;     // C, model width
  std::int64_t hidden;  // F, expert hidden width
};

// The three weight blocks of all experts; P is the element type, const or not.
template <class P>
struct ExpertWeightPtrs {
  P* gate;  // (experts, hidden, dim)
  P* up;    // (experts, hidden, dim)
  P* down;  // (experts, dim, hidden)
};

// Activations kept from the forward pass for the backward pass, each (rows, hidden).
template <class P>
struct ExpertSavedPtrs {
  P* gate;    // x W_gate^T
  P* up;      // x W_up^T
  P* hidden;  // silu(gate) * up
};

// Host offsets (experts + 1) must run from 0 to rows without decreasing: expert e owns rows [offsets[e],
// offsets[e + 1]). Error otherwise.
inline void check_expert_offsets(const ExpertShape& s, const std::int32_t* offsets) {
  check(offsets[0] == 0 && offsets[s.experts] == s.rows, "expert_ffn",
        "offsets run from " + std::to_string(offsets[0]) + " to " + std::to_string(offsets[s.experts]) +
            ", expected 0 to the " + std::to_string(s.rows) + " grouped rows");
  for (std::int64_t e = 0; e < s.experts; ++e)
    check(offsets[e] <= offsets[e + 1], "expert_ffn", "offsets decrease at expert " + std::to_string(e));
}

}  // namespace diverge
