// Numeric range rules attached to config keys: the bound a value must meet and the sentence an error prints.
#pragma once

#include <limits>
#include <string>

namespace diverge::config {

// An interval of allowed values; each end is open or closed. Integers are compared as doubles, exact for the
// small bounds the schema uses.
struct Range {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_open = false;
  bool max_open = false;

  bool contains(double value) const;
  // "must be >= 1", "must be > 0", "must be in [0, 1)": the rule as an error message states it.
  std::string describe() const;
};

constexpr Range any_value() { return {}; }
constexpr Range at_least(double min) { return {.min = min}; }
constexpr Range greater_than(double min) { return {.min = min, .min_open = true}; }
// [min, max]: e.g. a level of a few.
constexpr Range closed(double min, double max) { return {.min = min, .max = max}; }
// [min, max): e.g. Adam betas.
constexpr Range half_open(double min, double max) { return {.min = min, .max = max, .max_open = true}; }

}  // namespace diverge::config
