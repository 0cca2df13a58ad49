// Routing-metric window sums: their storage, merging, and the op adding one micro-batch (checks and dispatch).
#include <string>

#include "engine/error.h"
#include "kernels/cpu/routing_metrics.h"
#include "kernels/cuda/routing_sums.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"
#include "kernels/ops/sequence_args.h"

namespace diverge::ops {

RoutingSums::RoutingSums(std::int64_t label_count, std::int64_t expert_count)
    : labels(label_count), experts(expert_count) {
  check(labels > 0 && experts > 0, "RoutingSums",
        "needs labels > 0 and experts > 0, got " + std::to_string(labels) + " and " + std::to_string(experts));
  const auto m = static_cast<std::size_t>(labels);
  const auto me = static_cast<std::size_t>(labels * experts);
  sequences.assign(m, 0.0);
  q_sum.assign(me, 0.0);
  q_log_q.assign(m, 0.0);
  tokens.assign(m, 0.0);
  assignments.assign(me, 0.0);
}

void RoutingSums::add(const RoutingSums& other) {
  check(other.labels == labels && other.experts == experts, "RoutingSums::add",
        "adding sums of " + std::to_string(other.labels) + " labels x " + std::to_string(other.experts) +
            " experts to sums of " + std::to_string(labels) + " x " + std::to_string(experts));
  auto add_into = [](std::vector<double>& into, const std::vector<double>& from) {
    for (std::size_t i = 0; i < into.size(); ++i) into[i] += from[i];
  };
  add_into(sequences, other.sequences);
  add_into(q_sum, other.q_sum);
  add_into(q_log_q, other.q_log_q);
  add_into(tokens, other.tokens);
  add_into(assignments, other.assignments);
}

void routing_sums_add(const Tensor& probs, const Tensor& mask, const Tensor& domains, const Tensor& topk,
                      RoutingSums& sums) {
  constexpr const char* kOp = "routing_sums_add";
  const cpu::SequenceShape s = sequence_shape(kOp, probs, mask, domains, sums.labels);
  check(s.experts == sums.experts, std::string(kOp) + ": probs",
        "has " + std::to_string(s.experts) + " experts but the sums have " + std::to_string(sums.experts));
  if (!topk.empty()) {
    check_arg(kOp, {"topk", topk}, DType::i32, 2);
    check_extent(kOp, {"topk", topk}, 0, probs.dim(0), "N, the tokens of probs");
  }
  check_optional_device(kOp, {"probs", probs}, {"mask", mask});
  check_optional_device(kOp, {"probs", probs}, {"topk", topk});
  const cpu::RoutingSumsRef out{sums.sequences.data(), sums.q_sum.data(), sums.q_log_q.data(), sums.tokens.data(),
                                sums.assignments.data()};
  switch (common_device(kOp, {{"probs", probs}, {"domains", domains}})) {
    case Device::cpu:
      return cpu::routing_sums_add(s, probs.f32(), mask_data(mask), domains.i32(),
                                   topk.empty() ? nullptr : topk.i32(), topk.empty() ? 0 : topk.dim(1), out);
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::routing_sums_add(s, data_of<float>(probs), mask_data(mask),
                                                  data_of<std::int32_t>(domains),
                                                  topk.empty() ? nullptr : data_of<std::int32_t>(topk),
                                                  topk.empty() ? 0 : topk.dim(1), out));
  }
}

}  // namespace diverge::ops
