// CPU dispatch/combine: the plan is a sequential counting sort (cheap, O(tokens * k)); data movement runs in
// parallel over tokens or rows, each output row written by one thread.
#include "kernels/cpu/dispatch.h"

#include <algorithm>

#include "kernels/cpu/indices.h"

namespace diverge::cpu {

void route_plan(const std::int32_t* topk, std::int64_t tokens, std::int64_t top_k, std::int64_t experts,
                std::int32_t* counts, std::int32_t* offsets, std::int32_t* row_of_copy, std::int32_t* copy_of_row) {
  const std::int64_t copies = tokens * top_k;
  check_indices("route_plan", "expert", topk, copies, experts);
  std::fill_n(counts, experts, 0);
  for (std::int64_t c = 0; c < copies; ++c) ++counts[topk[c]];
  offsets[0] = 0;
  for (std::int64_t e = 0; e < experts; ++e) offsets[e + 1] = offsets[e] + counts[e];
  // counts restart from zero as fill cursors and end at their totals again; filling each expert's rows in copy
  // order keeps the sort stable: (token, k) order within every expert.
  std::fill_n(counts, experts, 0);
  for (std::int64_t c = 0; c < copies; ++c) row_of_copy[c] = offsets[topk[c]] + counts[topk[c]]++;
  for (std::int64_t c = 0; c < copies; ++c) copy_of_row[row_of_copy[c]] = static_cast<std::int32_t>(c);
}

template <class T>
void dispatch_forward(const RoutePlanView& plan, const T* x, std::int64_t dim, T* grouped) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < plan.tokens * plan.top_k; ++r)
    std::copy_n(x + (plan.copy_of_row[r] / plan.top_k) * dim, dim, grouped + r * dim);
}

namespace {

// out (tokens, dim) row t = its old value when accumulating, else 0, plus gate (t, j) * rows[row_of_copy[t, j]] for
// j in order, gate 1 without gates: the one loop of dispatch_backward and combine_forward.
template <class T>
void sum_copies(const RoutePlanView& plan, const T* rows, const T* gates, std::int64_t dim, T* out, bool accumulate) {
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < plan.tokens; ++t) {
    T* row = out + t * dim;
    if (!accumulate) std::fill_n(row, dim, T(0));
    for (std::int64_t j = 0; j < plan.top_k; ++j) {
      const T gate = gates != nullptr ? gates[t * plan.top_k + j] : T(1);
      const T* src = rows + plan.row_of_copy[t * plan.top_k + j] * dim;
      for (std::int64_t c = 0; c < dim; ++c) row[c] += gate * src[c];
    }
  }
}

}  // namespace

template <class T>
void dispatch_backward(const RoutePlanView& plan, const T* dgrouped, std::int64_t dim, T* dx, bool accumulate) {
  sum_copies<T>(plan, dgrouped, nullptr, dim, dx, accumulate);
}

template <class T>
void combine_forward(const RoutePlanView& plan, const T* expert_out, const T* gates, std::int64_t dim, T* out,
                     bool accumulate) {
  sum_copies(plan, expert_out, gates, dim, out, accumulate);
}

template <class T>
void combine_backward(const RoutePlanView& plan, const T* dout, const T* expert_out, const T* gates, std::int64_t dim,
                      T* dexpert_out, T* dgates) {
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < plan.tokens; ++t) {
    const T* grad = dout + t * dim;
    for (std::int64_t j = 0; j < plan.top_k; ++j) {
      const std::int64_t copy = t * plan.top_k + j;
      const std::int64_t row = plan.row_of_copy[copy];
      const T* src = expert_out + row * dim;
      T* dsrc = dexpert_out + row * dim;
      T dgate = 0;
      for (std::int64_t c = 0; c < dim; ++c) {
        dgate += grad[c] * src[c];
        dsrc[c] = gates[copy] * grad[c];
      }
      dgates[copy] = dgate;
    }
  }
}

template void dispatch_forward<float>(const RoutePlanView&, const float*, std::int64_t, float*);
template void dispatch_forward<double>(const RoutePlanView&, const double*, std::int64_t, double*);
template void dispatch_backward<float>(const RoutePlanView&, const float*, std::int64_t, float*, bool);
template void dispatch_backward<double>(const RoutePlanView&, const double*, std::int64_t, double*, bool);
template void combine_forward<float>(const RoutePlanView&, const float*, const float*, std::int64_t, float*, bool);
template void combine_forward<double>(const RoutePlanView&, const double*, const double*, std::int64_t, double*,
                                      bool);
template void combine_backward<float>(const RoutePlanView&, const float*, const float*, const float*, std::int64_t,
                                      float*, float*);
template void combine_backward<double>(const RoutePlanView&, const double*, const double*, const double*, std::int64_t,
                                       double*, double*);

}  // namespace diverge::cpu
