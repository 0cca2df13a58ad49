// The non-finite guard: a step whose losses or gradient norm hold NaN or Inf stops the run or skips its update.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/config/sections.h"
#include "engine/tensor.h"
#include "engine/training/metrics.h"
#include "model/param_layout.h"

namespace diverge {

// The first NaN or infinite quantity of a step, in the order lm, lb, z, edl, total loss, gradient norm, as a phrase
// ("the lm loss is nan", "the gradient norm is inf"); nullopt when every one is finite. Every quantity comes from
// values the step already brought to the host, so the check costs no synchronisation of its own.
std::optional<std::string> first_nonfinite_quantity(const LossParts& loss, double grad_norm);

// The state-dict name of the first tensor of a block laid out by layout (parameters, gradients, a moment) that holds
// a NaN or an infinity; nullopt when all are finite. A pass over the block: for diagnosis and checkpoints only.
std::optional<std::string> first_nonfinite_tensor(const model::ParamLayout& layout, const Tensor& block);

// What the trainer does with a step.
enum class StepVerdict { update, skip, stop };

// Counts skipped steps for train.on_nonfinite = skip: a finite step ends a streak of skips; max_consecutive_skips
// skips in a row stop the run. The counts are part of a checkpoint, so a resumed run judges the same way.
class NonFiniteGuard {
 public:
  NonFiniteGuard(config::NonFinitePolicy policy, std::int64_t max_consecutive_skips);

  StepVerdict judge(bool finite);

  std::int64_t skipped() const { return skipped_; }  // steps skipped since the run began
  std::int64_t streak() const { return streak_; }    // of them, the latest run of consecutive ones
  std::int64_t limit() const { return limit_; }
  void restore(std::int64_t skipped, std::int64_t streak);

 private:
  config::NonFinitePolicy policy_;
  std::int64_t limit_;
  std::int64_t skipped_ = 0;
  std::int64_t streak_ = 0;
};

}  // namespace diverge
