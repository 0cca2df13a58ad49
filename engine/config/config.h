// The training config: every section, loaded from JSON with --set overrides, validated, saved with the run.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config/sections.h"

namespace diverge::config {

// Config documents keep their keys in file order, so the resolved config reads in the order the schema lists.
using Json = nlohmann::ordered_json;

struct Config {
  ModelConfig model;
  DataConfig data;
  OptimConfig optim;
  LossConfig loss;
  EdlConfig edl;
  ParallelConfig parallel;
  TrainConfig train;
  LogConfig log;

  // Missing sections and keys take their defaults. Throws Error(where, "<json path>: <problem>") for an unknown
  // key (with the closest known one when there is one), a wrong type, or a value that validate() rejects.
  // `where` names the source, e.g. "config configs/tiny.json".
  static Config from_json(const Json& doc, std::string_view where);
  // Reads a JSON file, applies the "a.b=c" overrides in order (see apply_override), then from_json. Errors name
  // "config <file>".
  static Config load(const std::filesystem::path& file, const std::vector<std::string>& overrides = {});

  // Every range rule of every key, then the rules between keys (n_heads % n_kv_heads == 0, top_k <= n_experts,
  // warmup_steps <= steps, ...). Throws Error(where, "<json path>: <rule>") for the first one broken.
  void validate(std::string_view where = "config") const;

  // Every key with its value, defaults filled in, in schema order: from_json(to_json()) == *this.
  Json to_json() const;
  // Writes to_json() atomically, indented, with a trailing newline.
  void save_resolved(const std::filesystem::path& file) const;

  // log.metrics_file resolved against train.out_dir.
  std::filesystem::path metrics_path() const;

  bool operator==(const Config&) const = default;
};

}  // namespace diverge::config
