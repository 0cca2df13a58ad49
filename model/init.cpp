// Counter-based initialisation: SplitMix64 -> Box-Muller per element, parallel over elements without any shared state.
#include "model/init.h"

#include <cmath>
#include <numbers>

#include "engine/error.h"

namespace diverge::model {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// 53 random bits as a double in [0, 1).
double unit_interval(std::uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

double entry_std(InitRule rule, double init_std, std::int64_t n_layers) {
  if (rule == InitRule::residual_normal) return init_std / std::sqrt(2.0 * static_cast<double>(n_layers));
  return init_std;
}

}  // namespace

double counter_normal(std::uint64_t seed, std::uint64_t param_index, std::uint64_t element) {
  const std::uint64_t stream = splitmix64(splitmix64(seed) + param_index);
  const std::uint64_t pair = element / 2;
  // 1 - u lies in (0, 1], so the logarithm is finite.
  const double radius = std::sqrt(-2.0 * std::log(1.0 - unit_interval(splitmix64(stream + 2 * pair))));
  const double angle = 2.0 * std::numbers::pi * unit_interval(splitmix64(stream + 2 * pair + 1));
  return radius * (element % 2 == 0 ? std::cos(angle) : std::sin(angle));
}

void init_parameters(const ParamLayout& layout, const Tensor& params, std::uint64_t seed, double init_std,
                     std::int64_t n_layers) {
  check(init_std > 0.0, "model.init_std", "must be positive, got " + std::to_string(init_std));
  const auto& entries = layout.entries();
  for (std::size_t index = 0; index < entries.size(); ++index) {
    const ParamEntry& e = entries[index];
    float* data = entry_view(params, e).f32();
    if (e.init == InitRule::ones) {
      for (std::int64_t i = 0; i < e.numel; ++i) data[i] = 1.0f;
      continue;
    }
    const double std = entry_std(e.init, init_std, n_layers);
    // An expert shard's elements take the counters they have in the whole stack: every EP size starts alike.
    const auto first = static_cast<std::uint64_t>(e.first_element);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < e.numel; ++i)
      data[i] = static_cast<float>(std * counter_normal(seed, index, first + static_cast<std::uint64_t>(i)));
  }
}

}  // namespace diverge::model
