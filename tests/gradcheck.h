// Helpers for op tests: seeded random inputs, central finite differences in double, and error measures.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/error.h"

namespace diverge::test {

// n values uniform in [lo, hi), the same for the same seed on every platform run.
inline std::vector<double> random_values(std::size_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::vector<double> values(n);
  for (double& v : values) v = lo + (hi - lo) * static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return values;
}

inline std::vector<float> to_float(const std::vector<double>& values) {
  return std::vector<float>(values.begin(), values.end());
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// d loss / d x by central differences, perturbing x in place (and restoring it) one element at a time.
inline std::vector<double> numeric_gradient(std::vector<double>& x, const std::function<double()>& loss,
                                            double h = 1e-6) {
  std::vector<double> grad(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss();
    x[i] = saved - h;
    const double down = loss();
    x[i] = saved;
    grad[i] = (up - down) / (2.0 * h);
  }
  return grad;
}

// Largest |got - want| / max(|want|, floor): a relative error that turns absolute for values below `floor`.
template <class A, class B>
double max_rel_error(const std::vector<A>& got, const std::vector<B>& want, double floor = 1e-2) {
  if (got.size() != want.size()) throw Error("max_rel_error", "sizes differ");
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = static_cast<double>(got[i]);
    const double w = static_cast<double>(want[i]);
    worst = std::max(worst, std::abs(g - w) / std::max(std::abs(w), floor));
  }
  return worst;
}

// The message of the Error that fn throws, or "" when it throws none.
inline std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace diverge::test
