// parse_json and parse_ordered_json: the strict events filter feeding a tree builder, compiled once per JSON type.
#include "engine/json/json_reader.h"

#include "engine/files.h"
#include "engine/json/json_tree.h"
#include "engine/json/strict_events.h"

namespace diverge {
namespace {

template <class BasicJson>
BasicJson parse_tree(std::string_view text, std::string_view where) {
  JsonTree<BasicJson> tree;
  parse_strictly<BasicJson>(text, where, tree);
  return std::move(tree).take();
}

}  // namespace

nlohmann::json parse_json(std::string_view text, std::string_view where) {
  return parse_tree<nlohmann::json>(text, where);
}

nlohmann::ordered_json parse_ordered_json(std::string_view text, std::string_view where) {
  return parse_tree<nlohmann::ordered_json>(text, where);
}

nlohmann::json read_json_file(const std::filesystem::path& path) { return parse_json(read_file(path), path.string()); }

}  // namespace diverge
