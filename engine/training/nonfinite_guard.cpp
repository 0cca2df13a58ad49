// The non-finite guard: which quantity or tensor went NaN or infinite first, and the skip-or-stop policy.
#include "engine/training/nonfinite_guard.h"

#include <cmath>
#include <cstdio>

#include "engine/error.h"
#include "kernels/ops.h"

namespace diverge {
namespace {

std::string nonfinite_phrase(const char* quantity, double value) {
  return std::string("the ") + quantity + " is " + (std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf");
}

}  // namespace

std::optional<std::string> first_nonfinite_quantity(const LossParts& loss, double grad_norm) {
  const std::pair<const char*, double> quantities[] = {{"lm loss", loss.lm},     {"lb loss", loss.lb},
                                                       {"z loss", loss.z},       {"edl loss", loss.edl},
                                                       {"total loss", loss.total}, {"gradient norm", grad_norm}};
  for (const auto& [name, value] : quantities)
    if (!std::isfinite(value)) return nonfinite_phrase(name, value);
  return std::nullopt;
}

std::optional<std::string> first_nonfinite_tensor(const model::ParamLayout& layout, const Tensor& block) {
  // A sum of squares in double is finite exactly when every float of the tensor is.
  for (const model::NamedView& view : layout.named_views())
    if (!std::isfinite(ops::sum_of_squares(model::named_view(block, view)))) return view.name;
  return std::nullopt;
}

NonFiniteGuard::NonFiniteGuard(config::NonFinitePolicy policy, std::int64_t max_consecutive_skips)
    : policy_(policy), limit_(max_consecutive_skips) {
  check(limit_ >= 1, "train.max_consecutive_skips", "must be >= 1, got " + std::to_string(limit_));
}

StepVerdict NonFiniteGuard::judge(bool finite) {
  if (finite) {
    streak_ = 0;
    return StepVerdict::update;
  }
  if (policy_ == config::NonFinitePolicy::kStop) return StepVerdict::stop;
  ++skipped_;
  ++streak_;
  return streak_ >= limit_ ? StepVerdict::stop : StepVerdict::skip;
}

void NonFiniteGuard::restore(std::int64_t skipped, std::int64_t streak) {
  check(skipped >= 0 && streak >= 0 && streak <= skipped, "non-finite guard",
        "bad skip counts " + std::to_string(skipped) + " / " + std::to_string(streak));
  skipped_ = skipped;
  streak_ = streak;
}

}  // namespace diverge
