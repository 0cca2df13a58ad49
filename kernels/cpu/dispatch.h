// CPU MoE dispatch and combine: the (token, k) copies permuted into expert-grouped rows and weighted back.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// Where each of the tokens * top_k copies goes. Copy c = t * top_k + j is token t's j-th expert choice.
struct RoutePlanView {
  const std::int32_t* row_of_copy;  // (tokens * top_k): grouped row that holds copy c
  const std::int32_t* copy_of_row;  // (tokens * top_k): copy held by grouped row r
  std::int64_t tokens;
  std::int64_t top_k;
};

// Stable counting sort of the copies by expert: rows of expert e are [offsets[e], offsets[e + 1]), in copy order.
// counts (experts), offsets (experts + 1), row_of_copy and copy_of_row (tokens * top_k). Throws Error on an expert
// index outside [0, experts).
void route_plan(const std::int32_t* topk, std::int64_t tokens, std::int64_t top_k, std::int64_t experts,
                std::int32_t* counts, std::int32_t* offsets, std::int32_t* row_of_copy, std::int32_t* copy_of_row);

// grouped (tokens * top_k, dim): row r = x (tokens, dim) [token of copy_of_row[r]].
template <class T>
void dispatch_forward(const RoutePlanView& plan, const T* x, std::int64_t dim, T* grouped);

// dx (tokens, dim) = sum over its copies of dgrouped rows: overwritten, or added to (in copy order) when accumulate.
template <class T>
void dispatch_backward(const RoutePlanView& plan, const T* dgrouped, std::int64_t dim, T* dx, bool accumulate);

// out (tokens, dim) = sum_j gates[t][j] * expert_out[row_of_copy[t * top_k + j]]: overwritten, or added to (in copy
// order) when accumulate.
template <class T>
void combine_forward(const RoutePlanView& plan, const T* expert_out, const T* gates, std::int64_t dim, T* out,
                     bool accumulate);

// dexpert_out (tokens * top_k, dim) and dgates (tokens, top_k), both overwritten, from dout (tokens, dim).
template <class T>
void combine_backward(const RoutePlanView& plan, const T* dout, const T* expert_out, const T* gates, std::int64_t dim,
                      T* dexpert_out, T* dgates);

}  // namespace diverge::cpu
