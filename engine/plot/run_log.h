// A training run's metrics log (JSON Lines) read generically: every numeric value of every record, nested objects
// and arrays flattened to dotted keys, evaluation records told apart.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace diverge::plot {

namespace fs = std::filesystem;

struct RunLog {
  struct Record {
    bool eval = false;
    std::vector<std::pair<std::size_t, double>> values;  // (key index, value); null in the log reads as NaN
  };

  fs::path path;
  std::vector<std::string> keys;  // every numeric key, in order of first appearance
  std::vector<Record> records;    // in log order

  std::optional<std::size_t> key_index(std::string_view key) const;
  // The record's value for a key index, if the record has it.
  static std::optional<double> value(const Record& record, std::size_t key);
};

// Whether a key names a validation metric: it is "val" or starts with "val" followed by '.', '_' or '/' (as every
// key of an evaluation record does once read).
bool is_validation_key(std::string_view key);

// Reads a JSONL metrics log: one JSON object per line, blank lines ignored.
// - Nested objects and arrays flatten to dotted keys: {"edl": {"jsd": [0.1, 0.2]}} gives "edl.jsd.0", "edl.jsd.1".
// - A record whose "kind" or "type" is eval, val, validation or evaluation is an evaluation record; its keys get a
//   "val." prefix unless they already are validation keys (see is_validation_key), or are "step" or "tokens" (the
//   positions shared with training records). So {"kind": "eval", "loss": 3.1, "val": {"code": 2.9}} gives
//   "val.loss" and "val.code".
// - Strings and booleans are not plotted; null, NaN and Infinity (as Python writes them) are missing values.
// - A last line without a newline that does not parse is the record being written by a live run: it is skipped.
// Throws Error naming the file (and line) when the file cannot be read, a line is not a JSON object, or the log
// holds no record.
RunLog read_run_log(const fs::path& path);

}  // namespace diverge::plot
