// The strict JSON reader that every file reader of the project parses with: bounded nesting, no duplicate keys,
// numbers that fit a double, and one-line errors naming the file and the place.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>

#include "engine/json/json_path.h"

namespace diverge {

// Parses text as one JSON value (whitespace around it allowed, nothing else). Errors are Error(where, ...):
//   malformed JSON at line 3, column 7: <what the parser met and expected>      (a JsonSyntaxError)
//   optim.lr: number 1e400 is out of range (a JSON number must fit a double, ...)
//   shards[2].labels.fine: duplicate key (a key may appear once per object)
//   [0][0][0]...: objects and arrays nest deeper than 128 levels
// A text without a newline (a JSONL line) gives only the column.
nlohmann::json parse_json(std::string_view text, std::string_view where);
// The same, keeping each object's keys in file order.
nlohmann::ordered_json parse_ordered_json(std::string_view text, std::string_view where);

// The file parsed by parse_json; errors name the path.
nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace diverge
