// Parsing a JSON vocabulary file into nlohmann::json with errors that name the file.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace diverge::data {

// Parses text; malformed JSON throws Error(where, "malformed JSON: <parser's message>").
nlohmann::json parse_json_text(const std::string& text, std::string_view where);

// "string", "number", ... for messages like "model.vocab: expected an object, found an array".
std::string json_kind(const nlohmann::json& value);

}  // namespace diverge::data
