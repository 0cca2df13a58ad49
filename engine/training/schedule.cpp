// Learning-rate schedules: warmup, then cosine, warmup-stable-decay or constant, as closed forms of the step.
#include "engine/training/schedule.h"

#include <cmath>
#include <numbers>
#include <string>

#include "engine/error.h"

namespace diverge {

LrSchedule::LrSchedule(const config::OptimConfig& optim, std::int64_t total_steps)
    : kind_(optim.schedule),
      peak_(optim.lr),
      min_(optim.min_lr),
      warmup_(optim.warmup_steps),
      decay_(kind_ == config::Schedule::kWsd ? optim.decay_steps : 0),
      total_(total_steps) {
  auto steps = std::to_string(total_);
  check(total_ >= 1, "optim", "the schedule needs at least 1 step, got " + steps);
  check(min_ <= peak_, "optim", "min_lr must be <= lr");
  check(warmup_ >= 0 && warmup_ <= total_, "optim", "warmup_steps must be in [0, train.steps = " + steps + "]");
  if (kind_ == config::Schedule::kWsd) {
    check(decay_ >= 1, "optim", "decay_steps must be >= 1 for the wsd schedule");
    check(warmup_ + decay_ <= total_, "optim",
          "warmup_steps + decay_steps must be <= train.steps = " + steps + " for the wsd schedule");
  }
}

double LrSchedule::at(std::int64_t step) const {
  if (step <= warmup_) return peak_ * static_cast<double>(step) / static_cast<double>(warmup_);
  switch (kind_) {
    case config::Schedule::kCosine: {
      double progress = static_cast<double>(step - warmup_) / static_cast<double>(total_ - warmup_);
      return min_ + (peak_ - min_) * 0.5 * (1.0 + std::cos(std::numbers::pi * std::fmin(progress, 1.0)));
    }
    case config::Schedule::kWsd: {
      std::int64_t decay_start = total_ - decay_;
      if (step <= decay_start) return peak_;
      double progress = static_cast<double>(step - decay_start) / static_cast<double>(decay_);
      return peak_ + (min_ - peak_) * std::fmin(progress, 1.0);
    }
    case config::Schedule::kConstant:
      return peak_;
  }
  return peak_;
}

}  // namespace diverge
