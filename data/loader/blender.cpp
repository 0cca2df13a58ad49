// Blender: the largest-deficit rule and its saved position.
#include "data/loader/blender.h"

#include <cmath>
#include <numeric>
#include <string>
#include <utility>

#include "engine/error.h"

namespace diverge::data {

Blender::Blender(std::vector<double> weights) : weights_(std::move(weights)), taken_(weights_.size(), 0) {
  check(!weights_.empty(), "blend", "no streams to blend");
  double total = 0;
  for (double w : weights_) {
    check(std::isfinite(w) && w >= 0, "blend", "weight " + std::to_string(w) + " is not a finite non-negative number");
    total += w;
  }
  check(total > 0, "blend", "all weights are zero");
  for (double& w : weights_) w /= total;
}

std::size_t Blender::next() {
  const auto due = static_cast<double>(cursor_ + 1);
  std::size_t best = 0;
  double best_deficit = 0;
  for (std::size_t s = 0; s < weights_.size(); ++s) {
    // Two statements, not one expression: compilers that contract within an expression (Clang's default) would
    // otherwise fuse them into an FMA, whose different rounding would make the choice depend on the CPU.
    const double target = weights_[s] * due;
    const double deficit = target - static_cast<double>(taken_[s]);
    if (s == 0 || deficit > best_deficit) {
      best = s;
      best_deficit = deficit;
    }
  }
  ++taken_[best];
  ++cursor_;
  return best;
}

void Blender::restore(std::uint64_t cursor, std::vector<std::uint64_t> taken) {
  check(taken.size() == weights_.size(), "blend state",
        std::to_string(taken.size()) + " taken counts for " + std::to_string(weights_.size()) + " streams");
  const std::uint64_t total = std::accumulate(taken.begin(), taken.end(), std::uint64_t{0});
  check(total == cursor, "blend state",
        "taken counts sum to " + std::to_string(total) + " but the cursor is " + std::to_string(cursor));
  taken_ = std::move(taken);
  cursor_ = cursor;
}

}  // namespace diverge::data
