// Tests for configs/edl/: every variant loads and validates, and the variants differ only in their edl section.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "tests/support.h"

using namespace diverge::config;
using diverge::test::source_path;

namespace {

namespace fs = std::filesystem;

// The comparison the benchmark is built on: a baseline, the two real label systems and the two controls.
const std::vector<std::string> kVariants = {"baseline", "edl-coarse", "edl-fine", "random", "sequence"};

std::map<std::string, Config> load_all_edl_configs() {
  std::map<std::string, Config> configs;
  for (const auto& entry : fs::directory_iterator(source_path("configs/edl"))) {
    if (entry.path().extension() != ".json") continue;
    configs.emplace(entry.path().stem().string(), Config::load(entry.path()));
  }
  return configs;
}

// The resolved config with the edl section removed: what must be equal across variants.
Json without_edl(const Config& config) {
  Json doc = config.to_json();
  doc.erase("edl");
  return doc;
}

}  // namespace

TEST_CASE("configs/edl holds exactly the five variants, each loading and validating") {
  const auto configs = load_all_edl_configs();
  std::vector<std::string> names;
  for (const auto& [name, config] : configs) {
    names.push_back(name);
    CHECK_NOTHROW(config.validate("config configs/edl/" + name + ".json"));
  }
  std::vector<std::string> expected = kVariants;
  std::sort(expected.begin(), expected.end());
  CHECK(names == expected);
}

TEST_CASE("configs/edl variants differ only in edl, and there as their names say") {
  const auto configs = load_all_edl_configs();
  REQUIRE(configs.count("baseline") == 1);
  const Json reference = without_edl(configs.at("baseline"));
  for (const auto& [name, config] : configs) {
    INFO("configs/edl/" << name << ".json");
    CHECK(without_edl(config) == reference);
  }

  CHECK(configs.at("baseline").edl.beta == 0.0);
  const std::map<std::string, std::string> labels = {
      {"edl-coarse", "coarse"}, {"edl-fine", "fine"}, {"random", "random"}, {"sequence", "sequence"}};
  const double beta = configs.at("edl-coarse").edl.beta;
  CHECK(beta > 0.0);
  for (const auto& [name, label] : labels) {
    INFO("configs/edl/" << name << ".json");
    CHECK(configs.at(name).edl.labels == label);
    // One beta for every EDL variant, so the label choice is the only thing compared.
    CHECK(configs.at(name).edl.beta == beta);
  }
}
