// Smoothing of noisy training curves by a bias-corrected exponential moving average.
#include "engine/plot/smoothing.h"

#include <cmath>
#include <limits>

#include "engine/error.h"

namespace diverge::plot {

std::vector<double> ema_smooth(const std::vector<double>& values, double weight) {
  check(weight >= 0 && weight < 1, "smoothing", "the weight must be in [0, 1)");
  std::vector<double> out(values.size(), std::numeric_limits<double>::quiet_NaN());  // (values.size())
  double average = 0;
  double decay = 1;  // weight^n after n finite values: the share of the zero start still in `average`
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) continue;
    average = weight * average + (1 - weight) * values[i];
    decay *= weight;
    out[i] = average / (1 - decay);
  }
  return out;
}

}  // namespace diverge::plot
