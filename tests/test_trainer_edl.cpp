// Tests for EDL in the training loop: logged routing metrics, bit-exact resume with EDL on, labels that the corpus
// lacks, and that beta > 0 raises the inter-domain JSD the run logs.
#include <doctest/doctest.h>

#include "engine/config/config.h"
#include "engine/error.h"
#include "engine/training/metrics.h"
#include "engine/training/trainer.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;

namespace {

config::Config micro_config(const test::ScratchDir& dir, const fs::path& corpus, const std::string& run,
                            std::int64_t steps) {
  auto file = dir / (run + ".json");
  test::write_micro_config(file, corpus, dir / run, steps);
  return config::Config::load(file);
}

std::vector<nlohmann::json> train_records(const fs::path& metrics) {
  std::vector<nlohmann::json> out;
  for (auto& record : read_metrics(metrics))
    if (record["type"] == "train") out.push_back(std::move(record));
  return out;
}

// Mean over the MoE layers of the last train record's logged inter-domain JSD.
double last_logged_jsd(const fs::path& metrics) {
  auto records = train_records(metrics);
  REQUIRE(!records.empty());
  const auto& layers = records.back()["routing"]["layers"];
  REQUIRE(!layers.empty());
  double sum = 0.0;
  for (const auto& layer : layers) sum += layer["jsd_mean"].get<double>();
  return sum / static_cast<double>(layers.size());
}

}  // namespace

TEST_CASE("trainer edl: every train record carries the EDL loss and per-layer routing metrics") {
  test::ScratchDir dir("trainer-edl-log");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = micro_config(dir, corpus, "run", 4);
  config.edl.beta = 0.05;
  auto summary = train(config);
  for (const auto& record : train_records(summary.metrics)) {
    CHECK(record["edl"].get<double>() > 0.0);
    REQUIRE(record["routing"]["layers"].size() == 2);
    const auto& layer = record["routing"]["layers"][0];
    for (const char* key : {"edl", "jsd_mean", "d_total", "d_inter", "d_intra", "load_cv", "dead", "specialised"})
      CHECK_MESSAGE(layer.contains(key), "missing routing key " << key);
    CHECK(layer["d_total"].get<double>() ==
          doctest::Approx(layer["d_inter"].get<double>() + layer["d_intra"].get<double>()).epsilon(1e-6));
  }
}

TEST_CASE("trainer edl: a run with EDL on, stopped and resumed, logs exactly what an uninterrupted one logs") {
  test::ScratchDir dir("trainer-edl-resume");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto whole_config = micro_config(dir, corpus, "whole", 8);
  whole_config.edl.beta = 0.05;
  auto whole = train(whole_config);
  auto split_config = micro_config(dir, corpus, "split", 8);
  split_config.edl.beta = 0.05;
  train(split_config, {.stop_after = 3});
  split_config.train.resume = "auto";
  auto split = train(split_config);
  CHECK(test::deterministic_records(split.metrics) == test::deterministic_records(whole.metrics));
}

TEST_CASE("trainer edl: labels the corpus does not have are refused naming edl.labels") {
  test::ScratchDir dir("trainer-edl-labels");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = micro_config(dir, corpus, "run", 4);
  config.edl.beta = 0.05;
  config.edl.labels = "topic";
  CHECK_THROWS_WITH_AS(train(config), doctest::Contains("edl.labels: the corpus has no label system 'topic'"), Error);
  for (const char* control : {"random", "sequence"}) {
    config.edl.labels = control;
    config.train.out_dir = (dir / control).string();
    CHECK_NOTHROW(train(config));
  }
}

TEST_CASE("trainer edl: beta > 0 ends with a clearly higher logged inter-domain JSD than beta = 0") {
  test::ScratchDir dir("trainer-edl-jsd");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto baseline_config = micro_config(dir, corpus, "baseline", 40);
  auto edl_config = micro_config(dir, corpus, "edl", 40);
  edl_config.edl.beta = 0.1;
  const double baseline = last_logged_jsd(train(baseline_config).metrics);
  const double with_edl = last_logged_jsd(train(edl_config).metrics);
  MESSAGE("mean inter-domain JSD after 40 steps: beta 0 -> " << baseline << ", beta 0.1 -> " << with_edl);
  CHECK(with_edl > 2.0 * baseline);
  CHECK(with_edl > baseline + 0.05);
}
