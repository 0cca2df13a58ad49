// Range rules: membership and the wording of "must be ..." messages.
#include "engine/config/range.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace diverge::config {

namespace {

// Shortest form that reads back exactly for the bounds the schema uses: "1", "0", "1e-06".
std::string format_bound(double value) {
  char buf[32] = {};
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

}  // namespace

bool Range::contains(double value) const {
  const bool above_min = min_open ? value > min : value >= min;
  const bool below_max = max_open ? value < max : value <= max;
  return above_min && below_max;
}

std::string Range::describe() const {
  const bool bounded_below = std::isfinite(min), bounded_above = std::isfinite(max);
  if (bounded_below && bounded_above)
    return "must be in " + std::string(min_open ? "(" : "[") + format_bound(min) + ", " + format_bound(max) +
           (max_open ? ")" : "]");
  if (bounded_below) return std::string("must be ") + (min_open ? "> " : ">= ") + format_bound(min);
  if (bounded_above) return std::string("must be ") + (max_open ? "< " : "<= ") + format_bound(max);
  return "may be any number";
}

}  // namespace diverge::config
