// The kind of a JSON value, as tokenizer-file messages name it.
#include "data/tokenizer/json_text.h"

namespace diverge::data {

std::string json_kind(const nlohmann::json& value) {
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number()) return "a number";
  return "null";
}

}  // namespace diverge::data
