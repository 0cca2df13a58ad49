// The flat list of config keys derived from the schema tables, and the messages for names outside it.
#include "engine/config/schema.h"

#include <algorithm>

#include "engine/config/closest_match.h"

namespace diverge::config {

namespace {

std::vector<KeyInfo> collect_keys() {
  std::vector<KeyInfo> keys;
  const Config defaults;
  visit_sections(defaults, [&](std::string_view section, const auto& fields) {
    visit_fields(fields, [&](std::string_view key, const auto& member, Range = {}) {
      constexpr bool holds_json = std::is_same_v<std::remove_cvref_t<decltype(member)>, nlohmann::json>;
      keys.push_back({std::string(section), std::string(key), holds_json});
    });
  });
  return keys;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::vector<std::string> keys_of(std::string_view section) {
  std::vector<std::string> keys;
  for (const auto& k : all_keys())
    if (k.section == section) keys.push_back(k.key);
  return keys;
}

}  // namespace

const std::vector<KeyInfo>& all_keys() {
  static const std::vector<KeyInfo> keys = collect_keys();
  return keys;
}

std::vector<std::string> section_names() {
  std::vector<std::string> names;
  for (const auto& k : all_keys())
    if (names.empty() || names.back() != k.section) names.push_back(k.section);
  return names;
}

const KeyInfo* find_key(std::string_view section, std::string_view key) {
  const auto& keys = all_keys();
  const auto it = std::find_if(keys.begin(), keys.end(),
                               [&](const KeyInfo& k) { return k.section == section && k.key == key; });
  return it == keys.end() ? nullptr : &*it;
}

std::string unknown_section_message(std::string_view section) {
  const auto sections = section_names();
  const std::string nearest = closest_match(section, sections);
  if (!nearest.empty()) return "unknown section (did you mean '" + nearest + "'?)";
  return "unknown section (sections: " + join(sections) + ")";
}

std::string unknown_key_message(std::string_view section, std::string_view key) {
  const auto keys = keys_of(section);
  const std::string nearest = closest_match(key, keys);
  if (!nearest.empty()) return "unknown key (did you mean '" + nearest + "'?)";
  for (const auto& k : all_keys())
    if (k.key == key) return "unknown key (did you mean '" + k.section + "." + k.key + "'?)";
  return "unknown key (" + std::string(section) + " keys: " + join(keys) + ")";
}

}  // namespace diverge::config
