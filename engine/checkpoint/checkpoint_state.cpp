// state.json: TrainingState and the file records to JSON and back, with strict validation on the way in.
#include "engine/checkpoint/checkpoint_state.h"

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

}  // namespace

json state_to_json(const TrainingState& state, const CheckpointFiles& files) {
  return {{"format", kFormat},
          {"format_version", kCheckpointFormatVersion},
          {"step", state.step},
          {"tokens_seen", state.tokens_seen},
          {"config_hash", state.config_hash},
          {"files",
           {{std::string(kModelFile), file_to_json(files.model)},
            {std::string(kOptimizerFile), file_to_json(files.optimizer)}}},
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
  else
    check_keys(j,
               {"format", "format_version", "step", "tokens_seen", "config_hash", "files", "loader", "rng", "trainer",
                "config"},
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

  const json& files = j["files"];
  check_keys(files, {kModelFile, kOptimizerFile}, where, "files");
  out.files.model = file_from_json(files[std::string(kModelFile)], where, "files." + std::string(kModelFile));
  out.files.optimizer =
      file_from_json(files[std::string(kOptimizerFile)], where, "files." + std::string(kOptimizerFile));
  return out;
}

}  // namespace diverge
