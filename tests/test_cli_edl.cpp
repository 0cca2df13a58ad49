// Tests of `diverge edl`: a hand-checked batch, the gradient and layer selection against the kernels, and every
// input error answered with a message naming its key.
#include <doctest/doctest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/files.h"
#include "tests/edl_support.h"
#include "tests/gradcheck.h"
#include "tests/support.h"

using namespace diverge;
using namespace diverge::test;
using nlohmann::json;

namespace {

// Runs `diverge edl` on input; returns the exit code and either the parsed output or the error text.
struct EdlRun {
  int exit_code;
  json output;
  std::string text;
};

EdlRun run_edl(const json& input) {
  ScratchDir dir("cli-edl");
  write_file_atomic(dir / "in.json", input.dump());
  const CommandResult r = run_diverge("edl --input '" + (dir / "in.json").string() + "' --output '" +
                                      (dir / "out.json").string() + "'");
  if (r.exit_code != 0) return {r.exit_code, json(), r.output};
  return {0, json::parse(read_file(dir / "out.json")), r.output};
}

std::string error_of(const json& input) {
  const EdlRun r = run_edl(input);
  CHECK(r.exit_code == 1);
  return r.text;
}

// Three sequences of two tokens over two experts: "b" routes (1/2, 1/2), both "a" sequences (3/4, 1/4).
json hand_input() {
  const double l3 = std::log(3.0);
  return {{"logits", {{{0.0, 0.0}, {0.0, 0.0}}, {{l3, 0.0}, {l3, 0.0}}, {{l3, 0.0}, {0.5 + l3, 0.5}}}},
          {"domains", {"b", "a", "a"}}};
}

}  // namespace

TEST_CASE("edl on a hand-made batch: loss, JSD, divergences, label order and gradient shape") {
  const EdlRun r = run_edl(hand_input());
  REQUIRE(r.exit_code == 0);
  const json& out = r.output;
  // r_a = (3/4, 1/4), r_b = (1/2, 1/2), m = (5/8, 3/8).
  const double jsd = 0.5 * (0.75 * std::log(0.75 / 0.625) + 0.25 * std::log(0.25 / 0.375)) +
                     0.5 * (0.5 * std::log(0.5 / 0.625) + 0.5 * std::log(0.5 / 0.375));
  CHECK(out["domains"] == json({"a", "b"}));
  CHECK(out["eps"].get<double>() == 1e-6);
  CHECK(out["loss"].get<double>() == doctest::Approx(-std::log(jsd + 1e-6)).epsilon(1e-13));
  REQUIRE(out["layers"].size() == 1);
  const json& layer = out["layers"][0];
  CHECK(layer["layer"] == 0);
  CHECK(layer["loss"] == out["loss"]);
  CHECK(layer["jsd"][0][1].get<double>() == doctest::Approx(jsd).epsilon(1e-13));
  CHECK(layer["jsd"][1][1].get<double>() == 0.0);
  // Every "a" sequence equals r_a, so all divergence is between domains; q = (2/3, 1/3).
  const double inter = 2.0 / 3.0 * (0.75 * std::log(0.75 / (2.0 / 3.0)) + 0.25 * std::log(0.25 / (1.0 / 3.0))) +
                       1.0 / 3.0 * (0.5 * std::log(0.5 / (2.0 / 3.0)) + 0.5 * std::log(0.5 / (1.0 / 3.0)));
  CHECK(layer["d_intra"].get<double>() == doctest::Approx(0.0).epsilon(1e-15));
  CHECK(layer["d_inter"].get<double>() == doctest::Approx(inter).epsilon(1e-12));
  CHECK(layer["d_total"].get<double>() == doctest::Approx(inter).epsilon(1e-12));
  const json& grad = out["grad_logits"];
  REQUIRE(grad.size() == 3);
  for (const json& sequence : grad) {
    REQUIRE(sequence.size() == 2);
    for (const json& token : sequence) {
      REQUIRE(token.size() == 2);
      CHECK(token[0].get<double>() + token[1].get<double>() == doctest::Approx(0.0).scale(1.0));
    }
  }
}

TEST_CASE("edl gradient is the mean over the chosen layers of the kernels' gradient; other layers get zeros") {
  const std::int64_t S = 4, T = 3, E = 5;
  const std::vector<std::int32_t> domains = {1, 0, 1, 2};
  std::vector<std::int32_t> mask = {1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 1};
  std::vector<EdlBatch> layers;
  json logits = json::array();
  for (std::uint64_t l = 0; l < 3; ++l) {
    EdlBatch b{{S, T, E, 3}, random_values(S * T * E, 40 + l, -2.0, 2.0), mask, domains};
    json sequences = json::array();
    for (std::int64_t s = 0; s < S; ++s) {
      json tokens = json::array();
      for (std::int64_t t = 0; t < T; ++t)
        tokens.push_back(
            std::vector<double>(b.logits.begin() + (s * T + t) * E, b.logits.begin() + (s * T + t + 1) * E));
      sequences.push_back(tokens);
    }
    logits.push_back(sequences);
    layers.push_back(std::move(b));
  }
  json mask_json = json::array();
  for (std::int64_t s = 0; s < S; ++s)
    mask_json.push_back(std::vector<int>(mask.begin() + s * T, mask.begin() + (s + 1) * T));
  const EdlRun r =
      run_edl({{"logits", logits}, {"domains", domains}, {"mask", mask_json}, {"layers", {2, 0}}, {"eps", 1e-3}});
  REQUIRE(r.exit_code == 0);
  CHECK(r.output["domains"] == json({0, 1, 2}));
  REQUIRE(r.output["layers"].size() == 2);
  CHECK(r.output["layers"][0]["layer"] == 0);
  CHECK(r.output["layers"][1]["layer"] == 2);
  const double want = 0.5 * (edl_forward(layers[0], 1e-3).loss + edl_forward(layers[2], 1e-3).loss);
  CHECK(r.output["loss"].get<double>() == doctest::Approx(want).epsilon(1e-13));
  for (std::size_t l = 0; l < 3; ++l) {
    const std::vector<double> kernel =
        l == 1 ? std::vector<double>(S * T * E, 0.0) : edl_gradient(layers[l], 1e-3, 0.5);
    std::vector<double> cli;
    for (const json& sequence : r.output["grad_logits"][l])
      for (const json& token : sequence)
        for (const json& v : token) cli.push_back(v.get<double>());
    CHECK(max_rel_error(cli, kernel, 1e-12) < 1e-12);
  }
}

TEST_CASE("edl writes to standard output without --output") {
  ScratchDir dir("cli-edl-stdout");
  write_file_atomic(dir / "in.json", hand_input().dump());
  const CommandResult r = run_diverge("edl --input '" + (dir / "in.json").string() + "'");
  REQUIRE(r.exit_code == 0);
  CHECK(json::parse(r.output)["domains"] == json({"a", "b"}));
}

TEST_CASE("edl rejects bad input with a message naming the key") {
  json ragged = hand_input();
  ragged["logits"][2][1] = {0.1, 0.2, 0.3};
  CHECK(contains(error_of(ragged), "logits[2][1]: expected an array of 2"));
  json shallow = hand_input();
  shallow["logits"] = {{0.1, 0.2}, {0.3, 0.4}};
  CHECK(contains(error_of(shallow), "logits: expected [S][T][E] (one layer) or [L][S][T][E], got 2 levels"));
  json text = hand_input();
  text["logits"][0][0][1] = "x";
  CHECK(contains(error_of(text), "logits[0][0][1]: expected a number, got string"));
  json wrong_mask = hand_input();
  wrong_mask["mask"] = {{1, 1}, {1, 1}};
  CHECK(contains(error_of(wrong_mask), "mask: expected [S][T] = [3][2] like logits, got [2][2]"));
  json fractional_mask = hand_input();
  fractional_mask["mask"] = {{1, 1}, {1, 0.5}, {1, 1}};
  CHECK(contains(error_of(fractional_mask), "mask[1][1]: is 0.5, expected 0 or 1"));
  json empty_sequence = hand_input();
  empty_sequence["mask"] = {{1, 1}, {1, 1}, {0, 0}};
  CHECK(contains(error_of(empty_sequence), "mask[2]: sequence 2 has no target-bearing token"));
  json few_domains = hand_input();
  few_domains["domains"] = {"a", "b"};
  CHECK(contains(error_of(few_domains), "domains: 2 entries, but logits has S = 3 sequences"));
  json mixed = hand_input();
  mixed["domains"] = {"a", 1, "b"};
  CHECK(contains(error_of(mixed), "domains[1]: is 1, expected a string"));
  json bad_eps = hand_input();
  bad_eps["eps"] = 0;
  CHECK(contains(error_of(bad_eps), "eps: is 0, expected a number > 0"));
  json bad_layer = hand_input();
  bad_layer["layers"] = {1};
  CHECK(contains(error_of(bad_layer), "layers[0]: is 1, expected a layer index in [0, 1)"));
  json unknown = hand_input();
  unknown["masks"] = json::array();
  CHECK(contains(error_of(unknown), "unknown key \"masks\""));
  json no_domains = hand_input();
  no_domains.erase("domains");
  CHECK(contains(error_of(no_domains), "missing key \"domains\""));

  ScratchDir dir("cli-edl-bad");
  write_file_atomic(dir / "broken.json", "{\"logits\": [");
  const CommandResult broken = run_diverge("edl --input '" + (dir / "broken.json").string() + "'");
  CHECK(broken.exit_code == 1);
  CHECK(contains(broken.output, "broken.json: malformed JSON at column 13: syntax error"));
  write_file_atomic(dir / "twice.json", R"({"logits": [[[1, 2]]], "domains": ["a"], "eps": 1, "eps": 2})");
  const CommandResult twice = run_diverge("edl --input '" + (dir / "twice.json").string() + "'");
  CHECK(twice.exit_code == 1);
  CHECK(contains(twice.output, "twice.json: eps: duplicate key"));
}
