// JSON parsing with one-line errors naming the file.
#include "data/tokenizer/json_text.h"

#include "engine/error.h"

namespace diverge::data {

nlohmann::json parse_json_text(const std::string& text, std::string_view where) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(where, std::string("malformed JSON: ") + e.what());
  }
}

std::string json_kind(const nlohmann::json& value) {
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number()) return "a number";
  return "null";
}

}  // namespace diverge::data
