// Config from JSON (unknown keys and types checked against the schema), from a file with overrides, and back to JSON.
#include "engine/config/config.h"

#include <algorithm>

#include "engine/config/json_value.h"
#include "engine/config/overrides.h"
#include "engine/config/schema.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/json/json_quote.h"
#include "engine/json/json_reader.h"

namespace diverge::config {

namespace {

// Every key of the document must be in the schema: a misspelt key would otherwise leave its default in force.
void reject_unknown_keys(const Json& doc, std::string_view where) {
  const auto sections = section_names();
  for (const auto& [section, fields] : doc.items()) {
    if (std::find(sections.begin(), sections.end(), section) == sections.end())
      throw Error(where, brief_text(section) + ": " + unknown_section_message(section));
    if (!fields.is_object()) throw Error(where, section + ": expected an object, got " + quote_json(fields));
    for (const auto& item : fields.items())
      if (find_key(section, item.key()) == nullptr)
        throw Error(where, section + "." + brief_text(item.key()) + ": " + unknown_key_message(section, item.key()));
  }
}

void check_is_object_of_sections(const Json& doc, std::string_view where) {
  if (!doc.is_object())
    throw Error(where, "expected an object of sections (model, data, optim, ...), got " + quote_json(doc));
}

}  // namespace

Config Config::from_json(const Json& doc, std::string_view where) {
  check_is_object_of_sections(doc, where);
  reject_unknown_keys(doc, where);
  Config c;
  visit_sections(c, [&](std::string_view section, auto& fields) {
    const auto in_doc = doc.find(std::string(section));
    if (in_doc == doc.end()) return;
    visit_fields(fields, [&](std::string_view key, auto& member, Range = {}) {
      const auto value = in_doc->find(std::string(key));
      if (value != in_doc->end())
        read_value(*value, JsonPlace{where, std::string(section) + "." + std::string(key)}, member);
    });
  });
  c.validate(where);
  return c;
}

Config Config::load(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  const std::string where = "config " + file.string();
  Json doc = parse_ordered_json(read_file(file), where);
  check_is_object_of_sections(doc, where);
  for (const auto& assignment : overrides) apply_override(doc, assignment);
  return from_json(doc, where);
}

Json Config::to_json() const {
  Json doc = Json::object();
  visit_sections(*this, [&](std::string_view section, const auto& fields) {
    Json& out = doc[std::string(section)] = Json::object();
    visit_fields(fields, [&](std::string_view key, const auto& member, Range = {}) {
      out[std::string(key)] = write_value(member);
    });
  });
  return doc;
}

void Config::save_resolved(const std::filesystem::path& file) const {
  write_file_atomic(file, to_json().dump(2) + "\n");
}

std::filesystem::path Config::metrics_path() const {
  return std::filesystem::path(train.out_dir) / log.metrics_file;
}

}  // namespace diverge::config
