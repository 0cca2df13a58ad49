// Axis ticks at round values and their labels (Heckbert's "nice numbers" for linear axes).
#include "engine/plot/ticks.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "engine/error.h"

namespace diverge::plot {
namespace {

// The round number (1, 2, 2.5, 5 or 10 times a power of ten) nearest to x.
double nice_step(double x) {
  const double magnitude = std::pow(10.0, std::floor(std::log10(x)));
  const double f = x / magnitude;
  const double nice = f < 1.5 ? 1 : f < 2.25 ? 2 : f < 3.5 ? 2.5 : f < 7.5 ? 5 : 10;
  return nice * magnitude;
}

// Decimals needed to write multiples of step exactly (0.25 -> 2, 5 -> 0, 2e-4 -> 4).
int decimals_for(double step) {
  for (int d = 0; d < 15; ++d) {
    const double scaled = step * std::pow(10.0, d);
    if (std::fabs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, scaled)) return d;
  }
  return 15;
}

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  std::string s(buf);
  return s.find_first_not_of("-0.") == std::string::npos ? "0" : s;
}

struct Suffix {
  double scale;
  const char* name;
};

// Large values are read as thousands, millions, billions (of tokens, of steps).
Suffix suffix_for(double magnitude) {
  constexpr std::array<Suffix, 4> kSuffixes = {{{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "k"}}};
  for (const auto& s : kSuffixes)
    if (magnitude >= s.scale) return s;
  return {1, ""};
}

double largest_magnitude(const std::vector<double>& values) {
  double m = 0;
  for (double v : values) m = std::max(m, std::fabs(v));
  return m;
}

std::vector<double> multiples_between(double low, double high, double step) {
  std::vector<double> values;
  const auto first = static_cast<long long>(std::ceil(low / step - 1e-9));
  const auto last = static_cast<long long>(std::floor(high / step + 1e-9));
  for (long long i = first; i <= last; ++i) values.push_back(static_cast<double>(i) * step);
  return values;
}

// Ticks m x 10^k for every mantissa m and every decade touching [low, high].
std::vector<double> log_candidates(double low, double high, const std::vector<int>& mantissas) {
  std::vector<double> values;
  for (int k = static_cast<int>(std::floor(std::log10(low))); k <= static_cast<int>(std::ceil(std::log10(high)));
       ++k) {
    for (int m : mantissas) {
      const double v = m * std::pow(10.0, k);
      if (v >= low * (1 - 1e-9) && v <= high * (1 + 1e-9)) values.push_back(v);
    }
  }
  return values;
}

}  // namespace

Ticks linear_ticks(double low, double high, int target) {
  check(std::isfinite(low) && std::isfinite(high) && low <= high, "plot", "axis range must be finite and ordered");
  if (low == high) {
    const double pad = low == 0 ? 1.0 : std::fabs(low) * 0.1;
    low -= pad;
    high += pad;
  }
  const double step = nice_step((high - low) / std::max(1, target - 1));
  Ticks t;
  t.low = std::floor(low / step + 1e-9) * step;
  t.high = std::ceil(high / step - 1e-9) * step;
  t.values = multiples_between(t.low, t.high, step);
  t.labels = tick_labels(t.values, step);
  return t;
}

Ticks linear_ticks_within(double low, double high, int target) {
  Ticks t = linear_ticks(low, high, target);
  if (low == high) return t;
  const double slack = 1e-9 * (high - low);
  Ticks inside;
  inside.low = low;
  inside.high = high;
  for (std::size_t i = 0; i < t.values.size(); ++i) {
    if (t.values[i] < low - slack || t.values[i] > high + slack) continue;
    inside.values.push_back(t.values[i]);
    inside.labels.push_back(t.labels[i]);
  }
  return inside;
}

Ticks log_ticks(double low, double high) {
  check(std::isfinite(low) && std::isfinite(high) && low > 0 && low <= high, "plot",
        "a logarithmic axis needs a finite positive range");
  const double pad = std::max(0.04 * std::log10(high / low), 0.02);
  Ticks t;
  t.low = low / std::pow(10.0, pad);
  t.high = high * std::pow(10.0, pad);
  const std::array<std::vector<int>, 3> mantissa_sets = {{{1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}}};
  for (const auto& mantissas : mantissa_sets) {
    t.values = log_candidates(t.low, t.high, mantissas);
    if (t.values.size() >= 3) break;
  }
  if (t.values.size() < 3) {
    const double step = nice_step((t.high - t.low) / 4);
    t.values = multiples_between(t.low, t.high, step);
    t.labels = tick_labels(t.values, step);
    return t;
  }
  for (double v : t.values) t.labels.push_back(format_compact(v));
  return t;
}

std::vector<std::string> tick_labels(const std::vector<double>& values, double step) {
  const double magnitude = largest_magnitude(values);
  std::vector<std::string> labels;
  if (magnitude >= 1e4) {
    const Suffix s = suffix_for(magnitude);
    const int d = decimals_for(step / s.scale);
    for (double v : values) labels.push_back(v == 0 ? "0" : fixed(v / s.scale, d) + s.name);
  } else if (magnitude > 0 && magnitude < 1e-3) {
    const int exponent = static_cast<int>(std::floor(std::log10(magnitude)));
    const double scale = std::pow(10.0, exponent);
    const int d = decimals_for(step / scale);
    for (double v : values) labels.push_back(v == 0 ? "0" : fixed(v / scale, d) + "e" + std::to_string(exponent));
  } else {
    const int d = decimals_for(step);
    for (double v : values) labels.push_back(fixed(v, d));
  }
  return labels;
}

std::string format_compact(double value) {
  check(std::isfinite(value), "plot", "a non-finite value cannot be a label");
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g", value);
  // Pick the suffix after rounding so that 999,999 reads "1M", not "1e+03k".
  const double rounded = std::fabs(std::strtod(buf, nullptr));
  if (rounded == 0) return "0";
  if (rounded >= 1e4) {
    const Suffix s = suffix_for(rounded);
    std::snprintf(buf, sizeof buf, "%.3g%s", value / s.scale, s.name);
    return buf;
  }
  if (rounded >= 1e-3) return buf;
  std::snprintf(buf, sizeof buf, "%.1e", value);  // "2.5e-04": mantissa already rounded
  const std::string s(buf);
  const auto e = s.find('e');
  std::string mantissa = s.substr(0, e);
  mantissa.erase(mantissa.find_last_not_of('0') + 1);
  if (mantissa.back() == '.') mantissa.pop_back();
  return mantissa + "e" + std::to_string(std::stoi(s.substr(e + 1)));
}

}  // namespace diverge::plot
