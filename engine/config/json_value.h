// Reading and writing one config value of each C++ type a config key has; type errors name the JSON path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "engine/config/config.h"
#include "engine/config/sections.h"

namespace diverge::config {

// Where a value sits: the source ("config tiny.json") and the JSON path ("model.d_model"); errors name both.
struct JsonPlace {
  std::string_view where;
  std::string path;

  [[noreturn]] void fail(std::string_view what) const;
};

// Each reader throws Error(where, "<path>: expected <type>, got <value>") when the value has another type.
// Integers also accept a number written with an exponent when it is whole (1e5 steps).
void read_value(const Json& value, const JsonPlace& at, std::int64_t& out);
void read_value(const Json& value, const JsonPlace& at, std::uint64_t& out);
void read_value(const Json& value, const JsonPlace& at, double& out);
void read_value(const Json& value, const JsonPlace& at, bool& out);
void read_value(const Json& value, const JsonPlace& at, std::string& out);
// null or an object (data.weights): its contents are the loader's to check against the corpus.
void read_value(const Json& value, const JsonPlace& at, nlohmann::json& out);
// "all" or a non-empty list of layer indices.
void read_value(const Json& value, const JsonPlace& at, LayerSelection& out);

// The index of value in choices; a string outside them is an Error listing them (and the nearest one).
std::size_t read_choice(const Json& value, const JsonPlace& at, std::span<const std::string_view> choices);

template <ConfigEnum E>
void read_value(const Json& value, const JsonPlace& at, E& out) {
  out = static_cast<E>(read_choice(value, at, EnumNames<E>::names));
}

Json write_value(const LayerSelection& layers);

template <class T>
Json write_value(const T& value) {
  if constexpr (ConfigEnum<T>)
    return std::string(enum_name(value));
  else
    return Json(value);
}

}  // namespace diverge::config
