// Cross-check of the Expert Divergence Loss against PyTorch: tests/reference/edl_cases.json holds inputs and what
// PyTorch computes for them in float64 (loss, JSD matrices, divergences, autograd gradient); `diverge edl` and the
// f32 ops must reproduce it.
#include <doctest/doctest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "engine/files.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"
#include "tests/support.h"

using namespace diverge;
using namespace diverge::test;
using nlohmann::json;

namespace {

const json& reference_cases() {
  static const json cases = json::parse(read_file(source_path("tests/reference/edl_cases.json")))["cases"];
  return cases;
}

// Every number of a nested array, in order.
void flatten(const json& value, std::vector<double>& out) {
  if (value.is_array()) {
    for (const json& v : value) flatten(v, out);
  } else {
    out.push_back(value.get<double>());
  }
}

std::vector<double> flat(const json& value) {
  std::vector<double> out;
  flatten(value, out);
  return out;
}

// Layer l's logits (S, T, E) as f32 softmax probabilities (S * T, E), computed in double first.
std::vector<float> layer_probs(const json& layer_logits) {
  std::vector<float> probs;
  for (const json& sequence : layer_logits) {
    for (const json& token : sequence) {
      const std::vector<double> z = token.get<std::vector<double>>();
      const double top = *std::max_element(z.begin(), z.end());
      double sum = 0.0;
      for (double v : z) sum += std::exp(v - top);
      for (double v : z) probs.push_back(static_cast<float>(std::exp(v - top) / sum));
    }
  }
  return probs;
}

}  // namespace

// Both sides compute in double from the same logits, differing only in summation order: agreement to 1e-9 relative
// leaves room for the conditioning of -log(JSD + eps) when JSD is near eps (the last case), and none for a mistake.
TEST_CASE("diverge edl reproduces PyTorch's loss, JSD, divergences and gradient") {
  for (const json& c : reference_cases()) {
    CAPTURE(c["name"].get<std::string>());
    ScratchDir dir("edl-reference");
    write_file_atomic(dir / "in.json", c["input"].dump());
    const CommandResult r = run_diverge("edl --input '" + (dir / "in.json").string() + "'");
    REQUIRE(r.exit_code == 0);
    const json out = json::parse(r.output);
    const json& want = c["expected"];
    CHECK(out["domains"] == want["domains"]);
    CHECK(out["loss"].get<double>() == doctest::Approx(want["loss"].get<double>()).epsilon(1e-9));
    REQUIRE(out["layers"].size() == want["layers"].size());
    for (std::size_t i = 0; i < want["layers"].size(); ++i) {
      const json &got_layer = out["layers"][i], &want_layer = want["layers"][i];
      CHECK(got_layer["layer"] == want_layer["layer"]);
      CHECK(got_layer["loss"].get<double>() == doctest::Approx(want_layer["loss"].get<double>()).epsilon(1e-9));
      CHECK(max_rel_error(flat(got_layer["jsd"]), flat(want_layer["jsd"]), 1e-9) < 1e-9);
      for (const char* key : {"d_total", "d_inter", "d_intra"})
        CHECK(got_layer[key].get<double>() == doctest::Approx(want_layer[key].get<double>()).epsilon(1e-9));
    }
    CHECK(max_rel_error(flat(out["grad_logits"]), flat(want["grad_logits"]), 1e-6) < 1e-9);
  }
}

// The training path: f32 probabilities (relative rounding 6e-8) through the f32 ops. The loss moves by about
// rounding / (JSD + eps) in relative terms, at most ~1e-4 in the near-identical case, far less elsewhere.
TEST_CASE("the f32 EDL ops reproduce PyTorch's per-layer losses") {
  for (const json& c : reference_cases()) {
    CAPTURE(c["name"].get<std::string>());
    const json& input = c["input"];
    const json& want = c["expected"];
    const bool one_layer = !input["logits"][0][0][0].is_array();
    const auto labels = static_cast<std::int64_t>(want["domains"].size());
    std::vector<std::int32_t> domains;
    for (const json& d : input["domains"])
      domains.push_back(static_cast<std::int32_t>(
          std::find(want["domains"].begin(), want["domains"].end(), d) - want["domains"].begin()));
    std::vector<std::int32_t> mask;
    if (input.contains("mask"))
      for (const json& row : input["mask"])
        for (const json& v : row) mask.push_back(v.get<std::int32_t>());
    for (const json& layer : want["layers"]) {
      const json& logits = one_layer ? input["logits"] : input["logits"][layer["layer"].get<std::size_t>()];
      std::vector<float> probs = layer_probs(logits);
      const auto S = static_cast<std::int64_t>(domains.size());
      const auto E = static_cast<std::int64_t>(logits[0][0].size());
      const auto N = static_cast<std::int64_t>(probs.size()) / E;
      std::vector<float> sums(static_cast<std::size_t>(labels * E)), counts(static_cast<std::size_t>(labels)),
          jsd(static_cast<std::size_t>(labels * labels));
      float loss = 0.0f;
      const ops::EdlBuffers buffers{make_view(sums.data(), DType::f32, Device::cpu, {labels, E}),
                                    make_view(counts.data(), DType::f32, Device::cpu, {labels}),
                                    make_view(jsd.data(), DType::f32, Device::cpu, {labels, labels}), Tensor{},
                                    Tensor{}, make_view(&loss, DType::f32, Device::cpu, {1})};
      const Tensor tmask = mask.empty() ? Tensor{} : make_view(mask.data(), DType::i32, Device::cpu, {S, N / S});
      ops::expert_divergence_loss(make_view(probs.data(), DType::f32, Device::cpu, {N, E}), tmask,
                                  make_view(domains.data(), DType::i32, Device::cpu, {S}),
                                  static_cast<float>(input.value("eps", 1e-6)), buffers, 1.0f, Tensor{});
      CHECK(loss == doctest::Approx(layer["loss"].get<double>()).epsilon(2e-4));
    }
  }
}
