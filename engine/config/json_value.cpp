// Typed reads of config values from JSON (strict: no silent conversions) and the JSON written for each type.
#include "engine/config/json_value.h"

#include <cmath>
#include <limits>
#include <vector>

#include "engine/config/closest_match.h"
#include "engine/error.h"
#include "engine/json/json_quote.h"

namespace diverge::config {

namespace {

// 2^63: doubles below it in magnitude convert to int64 exactly when whole.
constexpr double kTwoPow63 = 9223372036854775808.0;

[[noreturn]] void fail_type(const Json& value, const JsonPlace& at, std::string_view expected) {
  at.fail("expected " + std::string(expected) + ", got " + quote_json(value));
}

bool is_whole(double d) { return std::isfinite(d) && std::floor(d) == d; }

}  // namespace

void JsonPlace::fail(std::string_view what) const { throw Error(where, path + ": " + std::string(what)); }

void read_value(const Json& value, const JsonPlace& at, std::int64_t& out) {
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      at.fail("integer " + quote_json(value) + " is too large");
    out = static_cast<std::int64_t>(u);
  } else if (value.is_number_integer()) {
    out = value.get<std::int64_t>();
  } else if (value.is_number_float() && is_whole(value.get<double>()) && std::fabs(value.get<double>()) < kTwoPow63) {
    out = static_cast<std::int64_t>(value.get<double>());
  } else {
    fail_type(value, at, "an integer");
  }
}

void read_value(const Json& value, const JsonPlace& at, std::uint64_t& out) {
  if (value.is_number_unsigned()) {
    out = value.get<std::uint64_t>();
  } else if (value.is_number_float() && is_whole(value.get<double>()) && value.get<double>() >= 0 &&
             value.get<double>() < 2 * kTwoPow63) {
    out = static_cast<std::uint64_t>(value.get<double>());
  } else {
    fail_type(value, at, "a non-negative integer");
  }
}

void read_value(const Json& value, const JsonPlace& at, double& out) {
  if (!value.is_number()) fail_type(value, at, "a number");
  out = value.get<double>();
}

void read_value(const Json& value, const JsonPlace& at, bool& out) {
  if (!value.is_boolean()) fail_type(value, at, "true or false");
  out = value.get<bool>();
}

void read_value(const Json& value, const JsonPlace& at, std::string& out) {
  if (!value.is_string()) fail_type(value, at, "a string");
  out = value.get<std::string>();
}

void read_value(const Json& value, const JsonPlace& at, nlohmann::json& out) {
  if (!value.is_null() && !value.is_object()) fail_type(value, at, "null or an object");
  out = nlohmann::json(value);
}

void read_value(const Json& value, const JsonPlace& at, LayerSelection& out) {
  if (value == "all") {
    out.indices.clear();
    return;
  }
  if (!value.is_array() || value.empty()) fail_type(value, at, "\"all\" or a non-empty list of layer indices");
  out.indices.resize(value.size());
  for (std::size_t i = 0; i < value.size(); ++i)
    read_value(value[i], JsonPlace{at.where, at.path + "[" + std::to_string(i) + "]"}, out.indices[i]);
}

std::size_t read_choice(const Json& value, const JsonPlace& at, std::span<const std::string_view> choices) {
  std::string listed;
  for (auto choice : choices) listed += (listed.empty() ? "" : ", ") + std::string(choice);
  if (!value.is_string()) fail_type(value, at, "one of " + listed);
  const auto& name = value.get_ref<const std::string&>();
  for (std::size_t i = 0; i < choices.size(); ++i)
    if (choices[i] == name) return i;
  const std::string nearest = closest_match(name, std::vector<std::string>(choices.begin(), choices.end()));
  at.fail("'" + brief_text(name) + "' is not one of " + listed +
          (nearest.empty() ? "" : " (did you mean '" + nearest + "'?)"));
}

Json write_value(const LayerSelection& layers) {
  if (layers.all()) return "all";
  return Json(layers.indices);
}

}  // namespace diverge::config
