// Training under mpirun cut over ranks, against one process: records and weights read back and compared.
#include "tests/mpi_train_support.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/checkpoint/checkpoint_io.h"
#include "engine/checkpoint/safetensors_reader.h"
#include "engine/json/json_reader.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

namespace diverge::test {

fs::path write_mpi_micro_config(const fs::path& dir) {
  const fs::path corpus = write_synthetic_corpus(dir / "corpus");
  const fs::path config = dir / "micro.json";
  write_micro_config(config, corpus, dir / "unused", kMpiSteps);
  return config;
}

std::string train_args(const fs::path& config, const fs::path& out, const Cut& cut) {
  return "train --config " + config.string() + " --set data.micro_batch=" + std::to_string(cut.micro_batch) +
         " --set data.grad_accum=" + std::to_string(cut.grad_accum) + cut.settings + " --out " + out.string();
}

std::map<std::string, std::vector<float>> checkpoint_weights(const fs::path& dir) {
  const LoadedCheckpoint checkpoint = load_checkpoint(dir);
  std::map<std::string, std::vector<float>> weights;
  const auto take = [&](const SafetensorsFile& file) {
    for (const TensorEntry& entry : file.tensors()) {
      const auto bytes = file.data(entry);
      std::vector<float>& values = weights[entry.name];
      values.resize(bytes.size() / sizeof(float));
      std::memcpy(values.data(), bytes.data(), bytes.size());
    }
  };
  take(checkpoint.model);
  for (const SafetensorsFile& shard : checkpoint.model_shards) take(shard);
  return weights;
}

double max_weight_difference(const fs::path& dir_a, const fs::path& dir_b) {
  const auto a = checkpoint_weights(dir_a), b = checkpoint_weights(dir_b);
  REQUIRE(a.size() == b.size());
  double worst = 0.0;
  for (const auto& [name, va] : a) {
    REQUIRE_MESSAGE(b.contains(name), name);
    const std::vector<float>& vb = b.at(name);
    REQUIRE(va.size() == vb.size());
    for (std::size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::abs(double{va[i]} - double{vb[i]}));
  }
  return worst;
}

fs::path newest_checkpoint(const fs::path& run) { return *read_latest(run / "checkpoints"); }

nlohmann::json checkpoint_files(const fs::path& run) {
  return read_json_file(newest_checkpoint(run) / "state.json").at("files");
}

double relative_difference(const nlohmann::json& a, const nlohmann::json& b, const char* key) {
  const double x = a.at(key).get<double>(), y = b.at(key).get<double>();
  return std::abs(x - y) / std::max(std::abs(y), 1e-30);
}

std::vector<nlohmann::json> step_records(const fs::path& run) {
  std::vector<nlohmann::json> steps;
  for (auto& record : deterministic_records(run / "metrics.jsonl"))
    if (record.contains("loss")) steps.push_back(std::move(record));
  return steps;
}

void check_same_training(const fs::path& dir, int ranks, const Cut& parallel, const Cut& single,
                         std::initializer_list<const char*> keys, const Tolerance& tolerance) {
  const fs::path config = write_mpi_micro_config(dir);
  const fs::path single_run = dir / "single", ranks_run = dir / ("np" + std::to_string(ranks));

  const auto alone = run_diverge(train_args(config, single_run, single));
  REQUIRE_MESSAGE(alone.exit_code == 0, alone.output);
  const auto together = run_diverge_ranks(ranks, train_args(config, ranks_run, parallel));
  REQUIRE_MESSAGE(together.exit_code == 0, together.output);
  CHECK_MESSAGE(together.output.empty(), together.output);  // quiet: only rank 0 may speak, and errors
  CHECK(fs::exists(ranks_run / "config.json"));
  check_same_records(ranks_run, single_run, keys, tolerance);
}

void check_same_records_but_norm_order(const fs::path& run, const fs::path& reference) {
  auto got = deterministic_records(run / "metrics.jsonl"), want = deterministic_records(reference / "metrics.jsonl");
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (want[i].contains("grad_norm")) {
      CHECK_MESSAGE(relative_difference(got[i], want[i], "grad_norm") < 1e-12, "grad_norm of record ", i);
      got[i].erase("grad_norm");
      want[i].erase("grad_norm");
    }
    CHECK(got[i] == want[i]);
  }
}

void check_same_records(const fs::path& run, const fs::path& reference, std::initializer_list<const char*> keys,
                        const Tolerance& tolerance) {
  const auto want = step_records(reference);
  const auto got = step_records(run);
  REQUIRE(want.size() == static_cast<std::size_t>(kMpiSteps));
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CHECK(got[i]["step"] == want[i]["step"]);
    CHECK(got[i]["tokens"] == want[i]["tokens"]);
    for (const char* key : keys)
      CHECK_MESSAGE(relative_difference(got[i], want[i], key) < tolerance.losses, std::string(key), " at step ",
                    i + 1, ": ", got[i][key].dump(), " against ", want[i][key].dump());
  }
  const double weights = max_weight_difference(newest_checkpoint(run), newest_checkpoint(reference));
  CHECK_MESSAGE(weights < tolerance.weights, run.filename().string(), ": weights differ by up to ", weights);
}

}  // namespace diverge::test
