// Tests for `diverge analyze`: the report's structure and identities, its SVGs, the permutation and ablation tests.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine/analysis/analysis_plots.h"
#include "engine/analysis/analyze.h"
#include "engine/analysis/router_permutation.h"
#include "engine/config/config.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/training/trainer.h"
#include "tests/model_support.h"
#include "tests/support.h"
#include "tests/trainer_support.h"
#include "tests/xml_check.h"

using namespace diverge;

namespace {

constexpr std::int64_t kSteps = 40;

// A micro run trained on two domains; its checkpoints directory.
fs::path trained_run(const test::ScratchDir& dir) {
  const fs::path corpus = test::write_synthetic_corpus(dir / "corpus");
  const fs::path file = dir / "micro.json";
  test::write_micro_config(file, corpus, dir / "run", kSteps);
  train(config::Config::load(file));
  return dir / "run" / "checkpoints";
}

std::vector<float> host_floats(const Tensor& t) { return {t.f32(), t.f32() + t.numel()}; }

double sum_of(const nlohmann::json& values) {
  double sum = 0.0;
  for (const auto& v : values) sum += v.get<double>();
  return sum;
}

}  // namespace

TEST_CASE("analyze: seeded permutations are permutations and never the identity") {
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    auto perm = analysis::seeded_permutation(4, seed);
    std::vector<std::int32_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == std::vector<std::int32_t>{0, 1, 2, 3});
    CHECK_FALSE(std::is_sorted(perm.begin(), perm.end()));
  }
  CHECK(analysis::seeded_permutation(3, 7) == analysis::seeded_permutation(3, 7));
}

TEST_CASE("analyze: a micro run's report holds consistent metrics, valid SVGs and a harmful ablation") {
  test::ScratchDir dir("analyze");
  const fs::path checkpoints = trained_run(dir);
  const fs::path out = dir / "analysis";
  auto result = test::run_diverge("analyze --checkpoint " + checkpoints.string() + " --output " + out.string());
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const auto report = nlohmann::json::parse(read_file(out / "analysis.json"));

  for (const char* key : {"checkpoint", "step", "label_system", "domains", "sequences", "val_loss", "layers",
                          "permutation", "ablation", "plots"})
    CHECK_MESSAGE(report.contains(key), key);
  CHECK(report["step"] == kSteps);
  const auto& domains = report["domains"];
  REQUIRE(domains.size() == 2);
  REQUIRE(report["layers"].size() == 2);  // micro model: 2 MoE layers

  for (const auto& layer : report["layers"]) {
    CHECK(sum_of(layer["expert_usage"]) == doctest::Approx(1.0).epsilon(1e-9));
    for (const auto& domain : domains)
      CHECK(sum_of(layer["domain_usage"][domain.get<std::string>()]) == doctest::Approx(1.0).epsilon(1e-9));
    for (const auto& shares : layer["domain_share"]) {
      const double s = sum_of(shares);
      CHECK((s == doctest::Approx(1.0).epsilon(1e-9) || s == 0.0));
    }
    const double total = layer["d_total"], inter = layer["d_inter"], intra = layer["d_intra"];
    CHECK(total == doctest::Approx(inter + intra).epsilon(1e-6));
    CHECK(inter >= 0.0);
    CHECK(intra >= 0.0);
    CHECK(layer["jsd"].size() == 2);
    CHECK(layer["jsd"][0][1].get<double>() == doctest::Approx(layer["jsd"][1][0].get<double>()));
  }

  CHECK(report["plots"].size() == 4);  // two layers x (domain-expert, JSD); no ternary with two domains
  for (const auto& plot : report["plots"]) {
    const auto svg = test::parse_xml(read_file(out / plot.get<std::string>()));
    CHECK(svg.name == "svg");
  }
  CHECK(fs::exists(out / "layer0_domain_expert.svg"));
  CHECK(fs::exists(out / "layer1_jsd.svg"));

  REQUIRE(report["permutation"]["layers"].size() == 2);
  for (const auto& layer : report["permutation"]["layers"])
    for (const auto& domain : domains) {
      const double rise = layer["loss_rise"][domain.get<std::string>()];
      CHECK(std::isfinite(rise));
      CHECK(layer["perplexity_ratio"][domain.get<std::string>()].get<double>() ==
            doctest::Approx(std::exp(rise)));
    }

  // Disabling a domain's most used experts in every layer must hurt that domain.
  REQUIRE(report["ablation"]["domains"].size() == 2);
  for (const auto& ablation : report["ablation"]["domains"]) {
    const std::string domain = ablation["domain"];
    CHECK(ablation["disabled"].size() == 2);
    CHECK(ablation["loss_change"][domain].get<double>() > 0.0);
    CHECK(ablation["loss"][domain].get<double>() ==
          doctest::Approx(report["val_loss"][domain].get<double>() + ablation["loss_change"][domain].get<double>()));
  }

  analysis::AnalyzeOptions options;
  options.checkpoint = checkpoints;
  options.labels = "nonexistent";
  options.output = dir / "bad";
  CHECK_THROWS_WITH_AS(analysis::analyze(options), doctest::Contains("nonexistent"), Error);
  options.labels = "";
  options.ablate = 3;  // 4 experts, top-2: at most 2 can be disabled
  CHECK_THROWS_WITH_AS(analysis::analyze(options), doctest::Contains("--ablate"), Error);
}

TEST_CASE("analyze: a router permutation moves the routing and is undone exactly") {
  const auto m = test::tiny_model();
  model::Transformer model(m, test::tiny_loss(0, 0), 2, 8, 5);
  test::TokenBatch batch(2, 8, m.vocab_size, 9);
  const auto before = host_floats(model.params());
  model.eval_sequence_losses(batch.tensor());
  const auto probs = host_floats(model.routing(1).probs);  // (N, E)
  const std::vector<std::int32_t> perm{2, 0, 3, 1};
  {
    const analysis::RouterPermutation shuffled(model, 1, perm);
    model.eval_sequence_losses(batch.tensor());
    const auto moved = host_floats(model.routing(1).probs);
    // Slot e now holds what expert perm[e] had: same inputs to layer 1, its router rows reordered.
    for (std::size_t t = 0; t < probs.size() / 4; ++t)
      for (std::size_t e = 0; e < 4; ++e)
        CHECK(moved[t * 4 + e] == doctest::Approx(probs[t * 4 + static_cast<std::size_t>(perm[e])]).epsilon(1e-6));
  }
  CHECK(host_floats(model.params()) == before);
}

TEST_CASE("analyze: a -inf router bias keeps the disabled experts out of every top-k, and is removable") {
  const auto m = test::tiny_model();
  model::Transformer model(m, test::tiny_loss(0, 0), 2, 8, 5);
  test::TokenBatch batch(2, 8, m.vocab_size, 9);
  const auto plain = model.eval_sequence_losses(batch.tensor());
  const float off = -std::numeric_limits<float>::infinity();
  model.set_router_bias(2, std::vector<float>{off, 0.0f, off, 0.0f});
  model.eval_sequence_losses(batch.tensor());
  const Tensor topk = model.routing(2).topk;  // (N, k)
  for (std::int64_t i = 0; i < topk.numel(); ++i) CHECK((topk.i32()[i] == 1 || topk.i32()[i] == 3));
  CHECK(model.routing(2).probs.f32()[0] == 0.0f);
  model.set_router_bias(2, {});
  CHECK(model.eval_sequence_losses(batch.tensor()) == plain);
  CHECK_THROWS_WITH_AS(model.set_router_bias(2, std::vector<float>{off, off, off, 0.0f}),
                       doctest::Contains("top_k"), Error);
  CHECK_THROWS_WITH_AS(model.set_router_bias(0, std::vector<float>(4, 0.0f)), doctest::Contains("not a MoE layer"),
                       Error);
}

TEST_CASE("analyze: three domains get a ternary plot of the used experts besides the two heatmaps") {
  test::ScratchDir dir("analyze_ternary");
  ops::RoutingSums sums(3, 4);
  sums.sequences = {2, 2, 2};
  sums.q_sum = {0.8, 0.1, 0.05, 0.05, 0.1, 0.8, 0.05, 0.05, 0.3, 0.3, 0.2, 0.2};  // (M, E) over 2 sequences each
  sums.q_log_q = {-1.0, -1.0, -2.0};
  sums.tokens = {10, 10, 10};
  sums.assignments = {12, 2, 6, 0, 2, 12, 6, 0, 6, 6, 8, 0};  // (M, E): expert 3 unused
  const auto metrics = ops::routing_metrics(sums);
  const auto files = analysis::write_layer_plots(dir.path(), 3, {"code", "math", "prose"}, metrics);
  REQUIRE(files == std::vector<std::string>{"layer3_domain_expert.svg", "layer3_jsd.svg", "layer3_ternary.svg"});
  for (const auto& file : files) CHECK(test::parse_xml(read_file(dir / file)).name == "svg");
  const auto ternary = read_file(dir / "layer3_ternary.svg");
  for (const char* corner : {"code", "math", "prose"}) CHECK(ternary.find(corner) != std::string::npos);
}

TEST_CASE("analyze: errors name the bad input") {
  test::ScratchDir dir("analyze_errors");
  analysis::AnalyzeOptions options;
  options.checkpoint = dir / "missing";
  options.output = dir / "a";
  CHECK_THROWS_WITH_AS(analysis::analyze(options), doctest::Contains("missing"), Error);
  auto result = test::run_diverge("analyze --checkpoint " + (dir / "missing").string() + " --output " +
                                  (dir / "c").string());
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("--checkpoint") != std::string::npos);
}
