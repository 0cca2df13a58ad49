// --set overrides: splitting "a.b=c", checking the path against the schema, and writing the value into the document.
#include "engine/config/overrides.h"

#include <algorithm>
#include <string>
#include <vector>

#include "engine/config/json_value.h"
#include "engine/config/schema.h"
#include "engine/error.h"
#include "engine/json/json_quote.h"
#include "engine/json/json_reader.h"

namespace diverge::config {

namespace {

// An assignment longer than this is cut where messages name it (a --set value may be a large JSON object).
constexpr std::size_t kShownAssignment = 100;

std::vector<std::string> split_path(std::string_view path, std::string_view where) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = path.find('.', start);
    const auto part = path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    check(!part.empty(), where, "empty element in path '" + brief_text(path) + "'");
    parts.emplace_back(part);
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

// Text that is not JSON at all is a plain string; JSON that breaks a rule of the reader (a number out of range, a
// duplicate key) is an error, not a string that the type check would then misreport.
Json parse_value(std::string_view text, std::string_view where) {
  try {
    return parse_ordered_json(text, where);
  } catch (const JsonSyntaxError&) {
    return Json(std::string(text));
  }
}

// The schema key a path starts with; the rest of the path may only reach into a JSON-valued key.
void check_path(const std::vector<std::string>& parts, std::string_view path, std::string_view where) {
  const auto sections = section_names();
  if (std::find(sections.begin(), sections.end(), parts[0]) == sections.end())
    throw Error(where, brief_text(parts[0]) + ": " + unknown_section_message(parts[0]));
  check(parts.size() > 1, where,
        "'" + parts[0] + "' is a section: set one of its keys (" + parts[0] + ".<key>=<value>)");
  const KeyInfo* key = find_key(parts[0], parts[1]);
  if (key == nullptr)
    throw Error(where, parts[0] + "." + brief_text(parts[1]) + ": " + unknown_key_message(parts[0], parts[1]));
  check(parts.size() == 2 || key->holds_json, where,
        "unknown path '" + brief_text(path) + "': " + parts[0] + "." + parts[1] + " holds no keys");
}

// "the config" or "'data.weights'": the first `depth` path elements, as an error names them.
std::string describe_prefix(const std::vector<std::string>& parts, std::size_t depth) {
  if (depth == 0) return "the config";
  std::string prefix = parts[0];
  for (std::size_t i = 1; i < depth; ++i) prefix += "." + parts[i];
  return "'" + brief_text(prefix) + "'";
}

}  // namespace

void apply_override(Json& doc, std::string_view assignment) {
  const std::string where = "--set " + brief_text(assignment, kShownAssignment);
  const std::size_t eq = assignment.find('=');
  check(eq != std::string_view::npos && eq > 0, where, "expected <section>.<key>=<value>, e.g. model.d_model=512");
  const auto path = assignment.substr(0, eq);
  const auto parts = split_path(path, where);
  check_path(parts, path, where);
  Json* node = &doc;
  for (std::size_t depth = 0; depth < parts.size(); ++depth) {
    if (node->is_null()) *node = Json::object();
    check(node->is_object(), where,
          "cannot set inside " + describe_prefix(parts, depth) + ": it holds " + quote_json(*node));
    node = &(*node)[parts[depth]];
  }
  *node = parse_value(assignment.substr(eq + 1), where);
}

}  // namespace diverge::config
