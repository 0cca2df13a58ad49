// Axis ticks at round values (1, 2, 5 x 10^k), for linear and logarithmic axes, and their labels.
#pragma once

#include <string>
#include <vector>

namespace diverge::plot {

// An axis domain and the ticks inside it; labels[i] names values[i].
struct Ticks {
  double low = 0;
  double high = 1;
  std::vector<double> values;
  std::vector<std::string> labels;
};

// About `target` ticks at a round step covering [low, high]; the domain widens to the outermost ticks so that the
// data never touch an unlabelled edge. A point range (low == high) is widened around its value. Inputs must be
// finite with low <= high.
Ticks linear_ticks(double low, double high, int target = 5);

// Round ticks inside [low, high], the domain staying exactly [low, high] (widened only for a point range): for
// axes that should end where the data end, such as steps or tokens, and for colour bars.
Ticks linear_ticks_within(double low, double high, int target = 5);

// Ticks for a logarithmic axis over [low, high] (both > 0), padded slightly: at decades when the data span several,
// else at 1-2-5 or 1..9 multiples, else at round linear values for a very narrow range.
Ticks log_ticks(double low, double high);

// Labels for ticks spaced `step` apart: as many decimals as the step needs, k/M/B/T suffixes from 10^4 up and an
// exponent below 10^-3 (e.g. "250k", "1.5M", "2e-4").
std::vector<std::string> tick_labels(const std::vector<double>& values, double step);

// A finite value in three significant digits, short: "0.25", "3", "12k", "1.5M", "2e-4". For log-axis ticks and
// colour bars.
std::string format_compact(double value);

}  // namespace diverge::plot
