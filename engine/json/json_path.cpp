// The strict JSON reader's position in a document and its errors: JSON paths, line and column, bounded quotes.
#include "engine/json/json_path.h"

#include <algorithm>

#include "engine/json/json_quote.h"

namespace diverge {
namespace {

// nlohmann's out_of_range error for a number that does not fit a double.
constexpr int kNumberOverflow = 406;
// Keys and the parser's description of a syntax error are quoted up to these lengths; a path is cut after its
// first kPathLimit bytes (it can hold kMaxJsonDepth elements).
constexpr std::size_t kKeyLimit = 40;
constexpr std::size_t kReasonLimit = 160;
constexpr std::size_t kPathLimit = 120;

// A key joins the path with a dot when that reads back unambiguously, else in brackets as a JSON string.
bool is_plain_key(std::string_view key) {
  return !key.empty() && std::none_of(key.begin(), key.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f || c == '.' || c == '[' || c == ']' || c == '"' || c == '\\';
  });
}

// "syntax error while parsing value - invalid literal; last read: 'tru'" out of nlohmann's
// "[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while ...".
std::string_view parser_reason(std::string_view message) {
  const auto column = message.find(", column ");
  const auto colon = column == std::string_view::npos ? message.find("] ") : message.find(": ", column);
  return colon == std::string_view::npos ? message : message.substr(colon + 2);
}

}  // namespace

void JsonPath::open(bool object) {
  if (frames_.size() >= kMaxJsonDepth)
    throw Error(where_, place("objects and arrays nest deeper than " + std::to_string(kMaxJsonDepth) + " levels"));
  frames_.push_back({object, {}, 0});
}

std::string JsonPath::describe() const {
  std::string path;
  for (const auto& frame : frames_) {
    if (path.size() > kPathLimit) return path.substr(0, kPathLimit) + "...";
    if (!frame.object) {
      path += "[" + std::to_string(frame.elements == 0 ? 0 : frame.elements - 1) + "]";
    } else if (is_plain_key(frame.key)) {
      path += (path.empty() ? "" : ".") + brief_text(frame.key, kKeyLimit);
    } else {
      path += "[" + quote_json(nlohmann::json(frame.key), kKeyLimit) + "]";
    }
  }
  return path;
}

std::string JsonPath::place(std::string_view what) const {
  const std::string path = describe();
  return path.empty() ? std::string(what) : path + ": " + std::string(what);
}

void JsonPath::fail_duplicate_key() const {
  throw Error(where_, place("duplicate key (a key may appear once per object)"));
}

void JsonPath::check_no_nul() const {
  const auto nul = text_.find('\0');
  if (nul != std::string_view::npos)
    throw JsonSyntaxError(where_,
                          "malformed JSON at " + line_and_column(nul + 1) + ": a NUL byte (JSON text has none)");
}

std::string JsonPath::line_and_column(std::size_t byte) const {
  const std::size_t at = std::min(byte == 0 ? 0 : byte - 1, text_.size());
  const std::string_view before = text_.substr(0, at);
  const auto line_start = before.rfind('\n');
  const std::size_t column = at - (line_start == std::string_view::npos ? 0 : line_start + 1) + 1;
  if (text_.find('\n') == std::string_view::npos) return "column " + std::to_string(column);
  const auto line = static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n')) + 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

void JsonPath::fail_parse(std::size_t byte, std::string_view token, int id, std::string_view message) {
  if (id == kNumberOverflow) {
    begin_value();  // the number never became a value, so its array index has not been counted yet
    throw Error(where_, place("number " + brief_text(token, kKeyLimit) +
                              " is out of range (a JSON number must fit a double, magnitude below 1.8e308)"));
  }
  throw JsonSyntaxError(where_, "malformed JSON at " + line_and_column(byte) + ": " +
                                    brief_text(parser_reason(message), kReasonLimit));
}

}  // namespace diverge
