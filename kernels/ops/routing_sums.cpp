// Routing-metric window sums: their storage, merging, the op adding one micro-batch, and the device-resident window.
#include <algorithm>
#include <string>
#include <vector>

#include "engine/device_memory.h"
#include "engine/error.h"
#include "engine/step_profile.h"
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

namespace {

// The shape of a micro-batch added to a window of `labels` x `experts` sums, with every argument checked.
cpu::SequenceShape checked_batch(const char* op, const Tensor& probs, const Tensor& mask, const Tensor& domains,
                                 const Tensor& topk, std::int64_t labels, std::int64_t experts) {
  const cpu::SequenceShape s = sequence_shape(op, probs, mask, domains, labels);
  check(s.experts == experts, std::string(op) + ": probs",
        "has " + std::to_string(s.experts) + " experts but the sums have " + std::to_string(experts));
  if (!topk.empty()) {
    check_arg(op, {"topk", topk}, DType::i32, 2);
    check_extent(op, {"topk", topk}, 0, probs.dim(0), "N, the tokens of probs");
  }
  check_optional_device(op, {"probs", probs}, {"mask", mask});
  check_optional_device(op, {"probs", probs}, {"topk", topk});
  return s;
}

const std::int32_t* topk_data(const Tensor& topk) { return topk.empty() ? nullptr : data_of<std::int32_t>(topk); }
std::int64_t topk_width(const Tensor& topk) { return topk.empty() ? 0 : topk.dim(1); }

void check_window(const char* op, const Tensor& window, std::int64_t labels, std::int64_t experts) {
  check_arg(op, {"window", window}, DType::f64, 1);
  check_extent(op, {"window", window}, 0, routing_window_size(labels, experts), "routing_window_size(M, E)");
}

}  // namespace

void routing_sums_add(const Tensor& probs, const Tensor& mask, const Tensor& domains, const Tensor& topk,
                      RoutingSums& sums) {
  const PartScope part(StepPart::edl);
  constexpr const char* kOp = "routing_sums_add";
  const cpu::SequenceShape s = checked_batch(kOp, probs, mask, domains, topk, sums.labels, sums.experts);
  const cpu::RoutingSumsRef out{sums.sequences.data(), sums.q_sum.data(), sums.q_log_q.data(), sums.tokens.data(),
                                sums.assignments.data()};
  switch (common_device(kOp, {{"probs", probs}, {"domains", domains}})) {
    case Device::cpu:
      return cpu::routing_sums_add(s, probs.f32(), mask_data(mask), domains.i32(), topk_data(topk), topk_width(topk),
                                   out);
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::routing_sums_add(s, data_of<float>(probs), mask_data(mask),
                                                  data_of<std::int32_t>(domains), topk_data(topk), topk_width(topk),
                                                  out));
  }
}

std::int64_t routing_window_size(std::int64_t labels, std::int64_t experts) {
  return cpu::window_size(labels, experts);
}

void routing_window_add(const Tensor& probs, const Tensor& mask, const Tensor& domains, const Tensor& topk,
                        const Tensor& window, std::int64_t labels) {
  const PartScope part(StepPart::edl);
  constexpr const char* kOp = "routing_window_add";
  const std::int64_t experts = probs.ndim == 2 ? probs.dim(1) : 0;
  const cpu::SequenceShape s = checked_batch(kOp, probs, mask, domains, topk, labels, experts);
  check_window(kOp, window, labels, experts);
  switch (common_device(kOp, {{"probs", probs}, {"domains", domains}, {"window", window}})) {
    case Device::cpu:
      return cpu::routing_sums_add(s, probs.f32(), mask_data(mask), domains.i32(), topk_data(topk), topk_width(topk),
                                   cpu::window_parts(window.f64(), labels, experts));
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::routing_window_add(s, data_of<float>(probs), mask_data(mask),
                                                    data_of<std::int32_t>(domains), topk_data(topk),
                                                    topk_width(topk), data_of<double>(window)));
  }
}

RoutingSums routing_window_read(const Tensor& window, std::int64_t labels, std::int64_t experts) {
  const PartScope part(StepPart::edl);
  check_window("routing_window_read", window, labels, experts);
  std::vector<double> host(static_cast<std::size_t>(window.numel()));
  copy_tensor(window, make_view(host.data(), DType::f64, Device::cpu, {window.numel()}));
  const cpu::RoutingSumsRef parts = cpu::window_parts(host.data(), labels, experts);
  RoutingSums sums(labels, experts);
  const auto m = static_cast<std::size_t>(labels), me = static_cast<std::size_t>(labels * experts);
  sums.sequences.assign(parts.sequences, parts.sequences + m);
  sums.q_sum.assign(parts.q_sum, parts.q_sum + me);
  sums.q_log_q.assign(parts.q_log_q, parts.q_log_q + m);
  sums.tokens.assign(parts.tokens, parts.tokens + m);
  sums.assignments.assign(parts.assignments, parts.assignments + me);
  return sums;
}

void routing_window_write(const RoutingSums& sums, const Tensor& window) {
  const PartScope part(StepPart::edl);
  check_window("routing_window_write", window, sums.labels, sums.experts);
  std::vector<double> host(static_cast<std::size_t>(window.numel()));
  const cpu::RoutingSumsRef parts = cpu::window_parts(host.data(), sums.labels, sums.experts);
  std::copy(sums.sequences.begin(), sums.sequences.end(), parts.sequences);
  std::copy(sums.q_sum.begin(), sums.q_sum.end(), parts.q_sum);
  std::copy(sums.q_log_q.begin(), sums.q_log_q.end(), parts.q_log_q);
  std::copy(sums.tokens.begin(), sums.tokens.end(), parts.tokens);
  std::copy(sums.assignments.begin(), sums.assignments.end(), parts.assignments);
  copy_tensor(make_view(host.data(), DType::f64, Device::cpu, {window.numel()}), window);
}

}  // namespace diverge::ops
