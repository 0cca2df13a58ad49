// How tokenizer-file messages name the kind of a JSON value they did not expect.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace diverge::data {

// "string", "number", ... for messages like "model.vocab: expected an object, found an array".
std::string json_kind(const nlohmann::json& value);

}  // namespace diverge::data
