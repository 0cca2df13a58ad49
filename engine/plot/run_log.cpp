// Reading a JSONL metrics log into flat numeric records.
#include "engine/plot/run_log.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "engine/error.h"
#include "engine/files.h"
#include "engine/json/json_reader.h"

namespace diverge::plot {
namespace {

using json = nlohmann::ordered_json;  // keeps each record's keys in log order

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_eval_record(const json& record) {
  for (const char* field : {"kind", "type"}) {
    const auto it = record.find(field);
    if (it == record.end() || !it->is_string()) continue;
    const auto& kind = it->get_ref<const std::string&>();
    for (const char* name : {"eval", "val", "validation", "evaluation"})
      if (equals_ignoring_case(kind, name)) return true;
  }
  return false;
}

std::string record_key(std::string_view key, bool eval) {
  if (!eval || key == "step" || key == "tokens" || is_validation_key(key)) return std::string(key);
  return "val." + std::string(key);
}

// Python's json module writes NaN, Infinity and -Infinity, which JSON (and nlohmann) reject; outside strings they
// become null, which reads as a missing value.
std::string nonfinite_literals_to_null(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  bool in_string = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < line.size()) out += line[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (std::string_view literal : {"-Infinity", "Infinity", "NaN"}) {
      if (line.substr(i, literal.size()) == literal) {
        out += "null";
        i += literal.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

// One line's JSON; nullopt for the last line of a live run's log, cut mid-write (no newline yet, not JSON yet).
std::optional<json> parse_record(std::string_view line, const std::string& where, bool complete) {
  try {
    return parse_ordered_json(nonfinite_literals_to_null(line), where);
  } catch (const JsonSyntaxError&) {
    if (complete) throw;
    return std::nullopt;
  }
}

class LogBuilder {
 public:
  explicit LogBuilder(RunLog& log) : log_(log) {}

  void add(const json& object, bool eval) {
    RunLog::Record record;
    record.eval = eval;
    for (const auto& [key, value] : object.items()) flatten(record_key(key, eval), value, record);
    log_.records.push_back(std::move(record));
  }

 private:
  void flatten(const std::string& key, const json& value, RunLog::Record& record) {
    if (value.is_object()) {
      for (const auto& [sub, v] : value.items()) flatten(key + "." + sub, v, record);
    } else if (value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i) flatten(key + "." + std::to_string(i), value[i], record);
    } else if (value.is_number()) {
      record.values.emplace_back(index_of(key), value.get<double>());
    } else if (value.is_null()) {
      record.values.emplace_back(index_of(key), kMissing);
    }
  }

  std::size_t index_of(const std::string& key) {
    const auto [it, inserted] = index_.emplace(key, log_.keys.size());
    if (inserted) log_.keys.push_back(key);
    return it->second;
  }

  RunLog& log_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace

bool is_validation_key(std::string_view key) {
  return key.substr(0, 3) == "val" && (key.size() == 3 || key[3] == '.' || key[3] == '_' || key[3] == '/');
}

std::optional<std::size_t> RunLog::key_index(std::string_view key) const {
  const auto it = std::find(keys.begin(), keys.end(), key);
  if (it == keys.end()) return std::nullopt;
  return static_cast<std::size_t>(it - keys.begin());
}

std::optional<double> RunLog::value(const Record& record, std::size_t key) {
  for (const auto& [k, v] : record.values)
    if (k == key) return v;
  return std::nullopt;
}

RunLog read_run_log(const fs::path& path) {
  RunLog log;
  log.path = path;
  LogBuilder builder(log);
  const std::string text = read_file(path);
  std::size_t line_number = 0;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t newline = text.find('\n', start);
    const bool complete = newline != std::string::npos;
    const std::string_view line(text.data() + start, (complete ? newline : text.size()) - start);
    start = complete ? newline + 1 : text.size();
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = path.string() + ":" + std::to_string(line_number);
    const auto record = parse_record(line, where, complete);
    if (!record.has_value()) break;
    const json& object = *record;
    check(object.is_object(), where, "expected a JSON object per line, got " + std::string(object.type_name()));
    builder.add(object, is_eval_record(object));
  }
  check(!log.records.empty(), path.string(), "the metrics log holds no record");
  return log;
}

}  // namespace diverge::plot
