// Parsing of `diverge edl` input: nested arrays flattened with their extents checked level by level.
#include "engine/analysis/edl_input.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "engine/error.h"
#include "engine/json/json_quote.h"

namespace diverge::analysis {

namespace {

using nlohmann::json;

const std::set<std::string> kKeys = {"logits", "mask", "domains", "eps", "layers"};

// A nested array of numbers, its extents fixed by its first element at every depth.
class NestedArray {
 public:
  NestedArray(const json& value, std::string key, const std::string& source) : key_(std::move(key)), source_(source) {
    const json* level = &value;
    while (level->is_array()) {
      check(!level->empty(), source_, key_ + ": an array is empty");
      extents_.push_back(static_cast<std::int64_t>(level->size()));
      level = &level->front();
    }
    check(!extents_.empty(), source_, key_ + ": expected an array, got " + std::string(value.type_name()));
    flatten(value, key_, 0);
  }

  const std::vector<std::int64_t>& extents() const { return extents_; }
  const std::vector<double>& values() const { return values_; }

 private:
  void flatten(const json& value, const std::string& path, std::size_t depth) {
    if (depth == extents_.size()) {
      check(value.is_number(), source_, path + ": expected a number, got " + std::string(value.type_name()));
      const double v = value.get<double>();
      check(std::isfinite(v), source_, path + ": is not finite");
      values_.push_back(v);
      return;
    }
    check(value.is_array() && static_cast<std::int64_t>(value.size()) == extents_[depth], source_,
          path + ": expected an array of " + std::to_string(extents_[depth]) + " (as " + key_ + "[0]... has), got " +
              (value.is_array() ? std::to_string(value.size()) + " entries" : std::string(value.type_name())));
    for (std::size_t i = 0; i < value.size(); ++i) flatten(value[i], path + "[" + std::to_string(i) + "]", depth + 1);
  }

  std::string key_;
  const std::string& source_;
  std::vector<std::int64_t> extents_;
  std::vector<double> values_;
};

std::string extents_text(const std::vector<std::int64_t>& extents) {
  std::string text;
  for (std::int64_t x : extents) text += "[" + std::to_string(x) + "]";
  return text;
}

const json& required(const json& object, const char* key, const std::string& source) {
  check(object.contains(key), source, std::string("missing key \"") + key + "\"");
  return object.at(key);
}

void read_logits(const json& value, const std::string& source, EdlInput& in) {
  const NestedArray logits(value, "logits", source);
  const auto& x = logits.extents();
  check(x.size() == 3 || x.size() == 4, source,
        "logits: expected [S][T][E] (one layer) or [L][S][T][E], got " + std::to_string(x.size()) + " levels");
  in.one_layer = x.size() == 3;
  in.layers = in.one_layer ? 1 : x[0];
  in.sequences = x[x.size() - 3];
  in.tokens = x[x.size() - 2];
  in.experts = x[x.size() - 1];
  in.logits = logits.values();
}

void read_mask(const json& value, const std::string& source, EdlInput& in) {
  const NestedArray mask(value, "mask", source);
  const auto& x = mask.extents();
  check(x.size() == 2 && x[0] == in.sequences && x[1] == in.tokens, source,
        "mask: expected [S][T] = [" + std::to_string(in.sequences) + "][" + std::to_string(in.tokens) +
            "] like logits, got " + extents_text(x));
  in.mask.reserve(mask.values().size());
  for (std::size_t i = 0; i < mask.values().size(); ++i) {
    const double v = mask.values()[i];
    const std::string where = "mask[" + std::to_string(i / static_cast<std::size_t>(in.tokens)) + "][" +
                              std::to_string(i % static_cast<std::size_t>(in.tokens)) + "]";
    check(v == 0.0 || v == 1.0, source, where + ": is " + quote_json(json(v)) + ", expected 0 or 1");
    in.mask.push_back(static_cast<std::int32_t>(v));
  }
  for (std::int64_t s = 0; s < in.sequences; ++s) {
    const auto row = in.mask.begin() + s * in.tokens;
    check(std::find(row, row + in.tokens, 1) != row + in.tokens, source,
          "mask[" + std::to_string(s) + "]: sequence " + std::to_string(s) +
              " has no target-bearing token (all 0), so its routing mean is undefined");
  }
}

void read_domains(const json& value, const std::string& source, EdlInput& in) {
  check(value.is_array(), source, "domains: expected an array of S strings or integers");
  check(static_cast<std::int64_t>(value.size()) == in.sequences, source,
        "domains: " + std::to_string(value.size()) + " entries, but logits has S = " + std::to_string(in.sequences) +
            " sequences");
  const bool strings = value.front().is_string();
  for (std::size_t s = 0; s < value.size(); ++s) {
    const bool ok = strings ? value[s].is_string() : value[s].is_number_integer();
    check(ok, source, "domains[" + std::to_string(s) + "]: is " + quote_json(value[s]) + ", expected " +
                          (strings ? "a string" : "an integer") + " (domains are all strings or all integers)");
  }
  std::vector<json> distinct(value.begin(), value.end());
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  in.labels = distinct;
  for (const json& d : value)
    in.domains.push_back(
        static_cast<std::int32_t>(std::lower_bound(distinct.begin(), distinct.end(), d) - distinct.begin()));
}

void read_layers(const json& value, const std::string& source, EdlInput& in) {
  check(value.is_array() && !value.empty(), source, "layers: expected a non-empty array of layer indices");
  for (std::size_t i = 0; i < value.size(); ++i) {
    const json& v = value[i];
    check(v.is_number_integer() && v.get<std::int64_t>() >= 0 && v.get<std::int64_t>() < in.layers, source,
          "layers[" + std::to_string(i) + "]: is " + quote_json(v) + ", expected a layer index in [0, " +
              std::to_string(in.layers) + ")");
    in.chosen.push_back(v.get<std::int64_t>());
  }
  std::sort(in.chosen.begin(), in.chosen.end());
  check(std::adjacent_find(in.chosen.begin(), in.chosen.end()) == in.chosen.end(), source,
        "layers: a layer index is listed twice");
}

}  // namespace

EdlInput parse_edl_input(const json& input, const std::string& source) {
  check(input.is_object(), source, "expected a JSON object with logits, domains and optionally mask, eps, layers");
  for (const auto& item : input.items())
    check(kKeys.contains(item.key()), source,
          "unknown key \"" + brief_text(item.key()) + "\" (expected logits, mask, domains, eps, layers)");
  EdlInput in;
  read_logits(required(input, "logits", source), source, in);
  read_domains(required(input, "domains", source), source, in);
  if (input.contains("mask")) read_mask(input.at("mask"), source, in);
  if (input.contains("eps")) {
    const json& eps = input.at("eps");
    check(eps.is_number() && eps.get<double>() > 0.0 && std::isfinite(eps.get<double>()), source,
          "eps: is " + quote_json(eps) + ", expected a number > 0");
    in.eps = eps.get<double>();
  }
  if (input.contains("layers")) {
    read_layers(input.at("layers"), source, in);
  } else {
    for (std::int64_t l = 0; l < in.layers; ++l) in.chosen.push_back(l);
  }
  return in;
}

}  // namespace diverge::analysis
