// state.json: TrainingState and the file records to JSON and back, with strict validation on the way in.
#include "engine/checkpoint/checkpoint_state.h"

#include <algorithm>
#include <initializer_list>

#include "engine/error.h"
#include "engine/json/json_quote.h"

namespace diverge {
namespace {

using json = nlohmann::json;

constexpr std::string_view kFormat = "diverge-checkpoint";

json file_to_json(const WrittenFile& file) { return {{"hash", file.hash}, {"bytes", file.bytes}}; }


// "files.model.safetensors.hash"; a top-level key is named alone.
std::string key_path(const std::string& at, std::string_view key) {
  return at.empty() ? std::string(key) : at + "." + std::string(key);
}

// The object has exactly the allowed keys.
void check_keys(const json& object, std::initializer_list<std::string_view> allowed, std::string_view where,
                const std::string& at) {
  check(object.is_object(), where, (at.empty() ? "state" : at) + ": is not a JSON object");
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (auto name : allowed) known = known || key == name;
    check(known, where, key_path(at, brief_text(key)) + ": unknown key");
  }
  for (auto name : allowed) check(object.contains(name), where, key_path(at, name) + ": missing");
}

std::int64_t non_negative(const json& value, std::string_view where, const std::string& at) {
  check(value.is_number_integer() && value.get<std::int64_t>() >= 0, where,
        at + ": is " + quote_json(value) + ", expected a non-negative integer");
  return value.get<std::int64_t>();
}

std::string string_field(const json& value, std::string_view where, const std::string& at) {
  check(value.is_string(), where, at + ": is " + quote_json(value) + ", expected a string");
  return value.get<std::string>();
}

WrittenFile file_from_json(const json& value, std::string_view where, const std::string& at) {
  check_keys(value, {"hash", "bytes"}, where, at);
  return {string_field(value["hash"], where, at + ".hash"),
          static_cast<std::uint64_t>(non_negative(value["bytes"], where, at + ".bytes"))};
}

json layout_to_json(const CheckpointLayout& layout) {
  return {{"world", layout.world}, {"ep", layout.ep}, {"zero", layout.zero}};
}

CheckpointLayout layout_from_json(const json& value, std::string_view where) {
  // "zero" came after the first files of version 3: without it, a run that kept whole moments.
  const bool zero = value.is_object() && value.contains("zero");
  if (zero) check_keys(value, {"world", "ep", "zero"}, where, "layout");
  else check_keys(value, {"world", "ep"}, where, "layout");
  CheckpointLayout layout{non_negative(value["world"], where, "layout.world"),
                          non_negative(value["ep"], where, "layout.ep"),
                          zero ? non_negative(value["zero"], where, "layout.zero") : 0};
  check(layout.world >= 1 && layout.ep >= 1 && layout.world % layout.ep == 0, where,
        "layout: ep " + std::to_string(layout.ep) + " does not divide world " + std::to_string(layout.world));
  return layout;
}

// The files of a checkpoint of this layout: exactly tensor_file_names(layout).
CheckpointFiles layout_files_from_json(const json& value, const CheckpointLayout& layout, std::string_view where) {
  const std::vector<std::string> names = tensor_file_names(layout);
  check(value.is_object(), where, "files: is not a JSON object");
  for (const auto& [key, unused] : value.items())
    check(std::find(names.begin(), names.end(), key) != names.end(), where,
          "files." + brief_text(key) + ": unknown key (layout ep " + std::to_string(layout.ep) + ")");
  for (const std::string& name : names) check(value.contains(name), where, "files." + name + ": missing");
  return files_from_json(value, where);
}

}  // namespace

json files_to_json(const CheckpointFiles& files) {
  json out = json::object();
  for (const auto& [name, file] : files) out[name] = file_to_json(file);
  return out;
}

CheckpointFiles files_from_json(const json& value, std::string_view where) {
  check(value.is_object(), where, "files: is not a JSON object");
  CheckpointFiles files;
  for (const auto& [name, record] : value.items()) files[name] = file_from_json(record, where, "files." + name);
  return files;
}

std::string expert_shard_file(std::string_view base, std::int64_t shard, std::int64_t shards) {
  return std::string(base) + "-ep" + std::to_string(shard) + "-of-" + std::to_string(shards) + ".safetensors";
}

std::vector<std::string> tensor_file_names(const CheckpointLayout& layout) {
  std::vector<std::string> names{std::string(kModelFile)};
  const auto shards = [&](std::string_view base) {
    if (layout.ep == 1) return;  // one process's layout: the experts are in the main files
    for (std::int64_t i = 0; i < layout.ep; ++i) names.push_back(expert_shard_file(base, i, layout.ep));
  };
  shards("model");
  names.emplace_back(kOptimizerFile);
  shards("optimizer");
  return names;
}

json state_to_json(const TrainingState& state, const CheckpointFiles& files) {
  return {{"format", kFormat},
          {"format_version", kCheckpointFormatVersion},
          {"step", state.step},
          {"tokens_seen", state.tokens_seen},
          {"config_hash", state.config_hash},
          {"files", files_to_json(files)},
          {"layout", layout_to_json(state.layout)},
          {"loader", state.loader},
          {"rng", state.rng},
          {"trainer", state.trainer},
          {"config", state.config}};
}

StateFile state_from_json(const json& j, std::string_view where) {
  check(j.is_object() && j.contains("format_version"), where, "format_version: missing");
  const auto version = non_negative(j["format_version"], where, "format_version");
  check(version >= 1 && version <= kCheckpointFormatVersion, where,
        "format_version: is " + std::to_string(version) + ", this build reads versions 1 to " +
            std::to_string(kCheckpointFormatVersion));
  if (version == 1)
    check_keys(j, {"format", "format_version", "step", "tokens_seen", "config_hash", "files", "loader", "rng", "config"},
               where, "");
  else if (version == 2)
    check_keys(j,
               {"format", "format_version", "step", "tokens_seen", "config_hash", "files", "loader", "rng", "trainer",
                "config"},
               where, "");
  else
    check_keys(j,
               {"format", "format_version", "step", "tokens_seen", "config_hash", "files", "layout", "loader", "rng",
                "trainer", "config"},
               where, "");
  check(j["format"] == std::string(kFormat), where,
        "format: is " + quote_json(j["format"]) + ", expected \"" + std::string(kFormat) + "\"");

  StateFile out;
  out.state.step = non_negative(j["step"], where, "step");
  out.state.tokens_seen = non_negative(j["tokens_seen"], where, "tokens_seen");
  out.state.config_hash = string_field(j["config_hash"], where, "config_hash");
  check(j["loader"].is_object(), where, "loader: is not a JSON object");
  check(j["config"].is_object(), where, "config: is not a JSON object");
  out.state.loader = j["loader"];
  out.state.rng = j["rng"];
  if (version >= 2) {
    check(j["trainer"].is_object(), where, "trainer: is not a JSON object");
    out.state.trainer = j["trainer"];
  }
  out.state.config = j["config"];

  if (version >= 3) out.state.layout = layout_from_json(j["layout"], where);
  out.files = layout_files_from_json(j["files"], out.state.layout, where);
  return out;
}

}  // namespace diverge
