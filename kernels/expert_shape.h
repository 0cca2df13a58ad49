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

// Where the expert FFN reads its R input rows: grouped row r is x[r], or, with copy_of_row set, token row
// x[copy_of_row[r] / top_k] of the tokens the rows were routed from. Reading through copy_of_row fuses the dispatch
// gather into the products' loads, so that no (R, dim) grouped copy of the tokens is written, kept or read back.
template <class P>
struct ExpertInputPtrs {
  P* x;                             // (x_rows, dim)
  const std::int32_t* copy_of_row;  // (R), or nullptr: x holds the grouped rows
  std::int64_t top_k;               // copies per token; 1 when x holds the grouped rows
  std::int64_t x_rows;
};

// The input of R rows that x already holds, grouped.
template <class T>
ExpertInputPtrs<const T> grouped_input(const T* x, std::int64_t rows) {
  return {x, nullptr, 1, rows};
}

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

// Host copy_of_row, when set, must name copies of x's rows: each in [0, x_rows * top_k). Without it x must hold
// the R grouped rows. Error otherwise.
template <class P>
void check_expert_input(const ExpertShape& s, const ExpertInputPtrs<P>& in) {
  if (in.copy_of_row == nullptr) {
    check(in.x_rows == s.rows, "expert_ffn",
          "x holds " + std::to_string(in.x_rows) + " rows, expected the " + std::to_string(s.rows) + " grouped rows");
    return;
  }
  check(in.top_k > 0, "expert_ffn", "top_k is " + std::to_string(in.top_k) + ", expected at least 1");
  const std::int64_t copies = in.x_rows * in.top_k;
  for (std::int64_t r = 0; r < s.rows; ++r)
    check(in.copy_of_row[r] >= 0 && in.copy_of_row[r] < copies, "expert_ffn",
          "grouped row " + std::to_string(r) + " holds copy " + std::to_string(in.copy_of_row[r]) + ", outside the " +
              std::to_string(copies) + " copies of x's " + std::to_string(in.x_rows) + " rows");
}

}  // namespace diverge
