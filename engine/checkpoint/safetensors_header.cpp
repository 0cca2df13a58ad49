// Safetensors header: compact JSON encoding with space padding, and a strict decoder that checks every rule.
#include "engine/checkpoint/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>

#include "engine/error.h"
#include "engine/json/json_quote.h"
#include "engine/json/json_reader.h"

namespace diverge {
namespace {

using json = nlohmann::json;

constexpr std::string_view kMetadataKey = "__metadata__";

std::string tensor_label(std::string_view name) { return "tensor '" + brief_text(name) + "'"; }

std::string span_text(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + "," + std::to_string(end) + ")";
}

std::uint64_t non_negative_integer(const json& value, std::string_view where, const std::string& what) {
  check(value.is_number_unsigned(), where, what + " is " + quote_json(value) + ", expected a non-negative integer");
  return value.get<std::uint64_t>();
}

SafeDtype parse_dtype(const json& value, std::string_view where, const std::string& at) {
  check(value.is_string(), where, at + ": dtype is " + quote_json(value) + ", expected a string such as \"F32\"");
  const auto dtype = parse_safe_dtype(value.get_ref<const std::string&>());
  check(dtype.has_value(), where, at + ": dtype " + quote_json(value) + " is not a safetensors dtype");
  return *dtype;
}

std::vector<std::int64_t> parse_shape(const json& value, std::string_view where, const std::string& at) {
  check(value.is_array(), where, at + ": shape is " + quote_json(value) + ", expected an array of integers");
  std::vector<std::int64_t> shape;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto dim = non_negative_integer(value[i], where, at + ": shape[" + std::to_string(i) + "]");
    check(dim <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), where,
          at + ": shape[" + std::to_string(i) + "] is too large");
    shape.push_back(static_cast<std::int64_t>(dim));
  }
  return shape;
}

TensorEntry parse_entry(const std::string& name, const json& value, std::string_view where) {
  const std::string at = "header: " + tensor_label(name);
  check(!name.empty(), where, "header: a tensor has an empty name");
  check(value.is_object(), where,
        at + " is " + quote_json(value) + ", expected {\"dtype\", \"shape\", \"data_offsets\"}");
  for (const auto& [key, field] : value.items())
    check(key == "dtype" || key == "shape" || key == "data_offsets", where,
          at + ": unknown key '" + brief_text(key) + "'");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    check(value.contains(key), where, at + ": missing '" + key + "'");

  TensorEntry entry;
  entry.name = name;
  entry.dtype = parse_dtype(value["dtype"], where, at);
  entry.shape = parse_shape(value["shape"], where, at);
  const json& offsets = value["data_offsets"];
  check(offsets.is_array() && offsets.size() == 2, where,
        at + ": data_offsets is " + quote_json(offsets) + ", expected [begin, end]");
  entry.begin = non_negative_integer(offsets[0], where, at + ": data_offsets[0]");
  entry.end = non_negative_integer(offsets[1], where, at + ": data_offsets[1]");
  check(entry.begin <= entry.end, where, at + ": data_offsets " + quote_json(offsets) + " end before they begin");

  const std::uint64_t bytes = tensor_byte_size(entry, where);
  check(entry.end - entry.begin == bytes, where,
        at + ": shape " + shape_text(entry.shape) + " of " + std::string(safe_dtype_name(entry.dtype)) + " is " +
            std::to_string(bytes) + " bytes but data_offsets " + quote_json(offsets) + " span " +
            std::to_string(entry.end - entry.begin));
  return entry;
}

std::map<std::string, std::string> parse_metadata(const json& value, std::string_view where) {
  check(value.is_object(), where,
        "header: __metadata__ is " + quote_json(value) + ", expected an object of strings");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, text] : value.items()) {
    check(text.is_string(), where,
          "header: __metadata__." + brief_text(key) + " is " + quote_json(text) + ", expected a string");
    metadata.emplace(key, text.get<std::string>());
  }
  return metadata;
}

// Sorts the entries into data order and checks that they tile [0, data_bytes) exactly.
void check_layout(std::vector<TensorEntry>& tensors, std::uint64_t data_bytes, std::string_view where) {
  std::sort(tensors.begin(), tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  std::uint64_t covered = 0;
  const TensorEntry* previous = nullptr;
  for (const auto& t : tensors) {
    check(t.end <= data_bytes, where,
          "header: " + tensor_label(t.name) + ": bytes " + span_text(t.begin, t.end) +
              " run past the end of the data section (" + std::to_string(data_bytes) + " bytes; truncated file?)");
    if (t.begin < covered)
      throw Error(where, "header: " + tensor_label(t.name) + ": bytes " + span_text(t.begin, t.end) + " overlap " +
                             tensor_label(previous->name) + " at " + span_text(previous->begin, previous->end));
    check(t.begin == covered, where,
          "header: data bytes " + span_text(covered, t.begin) + " belong to no tensor (gap before " +
              tensor_label(t.name) + ")");
    covered = t.end;
    previous = &t;
  }
  check(covered == data_bytes, where,
        "header: the last " + std::to_string(data_bytes - covered) + " bytes of the data section belong to no tensor");
}

}  // namespace

std::string encode_header(const SafetensorsHeader& header, std::string_view where) {
  nlohmann::ordered_json index = nlohmann::ordered_json::object();
  if (!header.metadata.empty()) index[std::string(kMetadataKey)] = header.metadata;
  for (const auto& t : header.tensors)
    index[t.name] = {{"dtype", safe_dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
  std::string text;
  try {
    text = index.dump();
  } catch (const nlohmann::ordered_json::type_error& e) {
    throw Error(where, std::string("a tensor name or metadata string is not valid UTF-8: ") + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

SafetensorsHeader decode_header(std::string_view text, std::uint64_t data_bytes, std::string_view where) {
  check(!text.empty() && text.front() == '{', where, "header does not start with '{'");
  // Duplicate keys are refused by the reader: two entries for one tensor name would leave it ambiguous which bytes
  // the name means.
  const json index = parse_json(text, std::string(where) + ": header");
  SafetensorsHeader header;
  for (const auto& [key, value] : index.items()) {
    if (key == kMetadataKey)
      header.metadata = parse_metadata(value, where);
    else
      header.tensors.push_back(parse_entry(key, value, where));
  }
  check_layout(header.tensors, data_bytes, where);
  return header;
}

}  // namespace diverge
