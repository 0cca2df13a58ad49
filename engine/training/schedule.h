// Learning-rate schedules: linear warmup from 0, then cosine to min_lr, warmup-stable-decay, or constant.
#pragma once

#include <cstdint>

#include "engine/config/sections.h"

namespace diverge {

// The learning rate of every optimizer update. Updates are numbered from 1 (the first) to total_steps (the last):
//   warmup   (s <= warmup_steps):  lr * s / warmup_steps, so the first update is not wasted at lr 0 and update
//                                  number warmup_steps runs at the peak
//   cosine:    min_lr + (lr - min_lr) * (1 + cos(pi * p)) / 2,  p = (s - warmup) / (total - warmup), min_lr at the end
//   wsd:       lr until s = total - decay_steps, then lr + (min_lr - lr) * (s - (total - decay)) / decay_steps
//   constant:  lr
// A pure function of the update number: a resumed run continues the schedule exactly.
class LrSchedule {
 public:
  // Throws Error("optim", ...) when warmup (and, for wsd, decay) steps do not fit into total_steps, min_lr > lr,
  // or wsd has no decay steps.
  LrSchedule(const config::OptimConfig& optim, std::int64_t total_steps);

  double at(std::int64_t step) const;

 private:
  config::Schedule kind_;
  double peak_;
  double min_;
  std::int64_t warmup_;
  std::int64_t decay_;
  std::int64_t total_;
};

}  // namespace diverge
