// `diverge bench ep` under mpirun at 2 ranks on tiny-cpu's MoE layer: its JSON is complete and consistent (positive
// bandwidth at every size, the exchange's bytes as forced balance makes them, the layer's parts summing to its total);
// alone it times the experts and says why nothing is exchanged. No speed is asserted.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/files.h"
#include "tests/support.h"

using namespace diverge;

namespace {

// tiny-cpu at two sizes, few iterations: the whole run takes seconds.
std::string bench_args(const fs::path& json, const std::string& settings) {
  return "bench ep --config " + test::source_path("configs/tiny-cpu.json").string() +
         " --set train.threads=1 --sizes 64 --sizes 256 --iters 3 --warmup 1 --json " + json.string() + settings;
}

}  // namespace

TEST_CASE("bench ep at 2 ranks: the JSON holds every size's bandwidth and the layer's breakdown") {
  if (!test::mpi_ready()) return;
  test::ScratchDir dir("bench-ep");
  const fs::path json_path = dir / "bench-ep.json";
  const auto run = test::run_diverge_ranks(2, bench_args(json_path, " --set parallel.ep=2"));
  REQUIRE_MESSAGE(run.exit_code == 0, run.output);
  CHECK_MESSAGE(run.output.find("GB/s") != std::string::npos, run.output);
  const auto report = nlohmann::json::parse(read_file(json_path));

  const auto& meta = report.at("meta");
  CHECK(meta.at("ranks") == 2);
  CHECK(meta.at("ep") == 2);
  for (const char* key : {"date", "commit", "device", "command"}) CHECK(!meta.at(key).get<std::string>().empty());
  CHECK(report.at("routing") == "forced_balance");
  const auto& shape = report.at("layer_shape");
  CHECK(shape.at("local_experts") == 4);

  const auto& sizes = report.at("sizes");
  REQUIRE(sizes.size() == 2);
  const double row_bytes = shape.at("d_model").get<double>() * shape.at("element_bytes").get<double>();
  for (const auto& size : sizes) {
    const double tokens = size.at("tokens_per_rank").get<double>();
    CAPTURE(tokens);
    // Forced balance over 2 ranks: half of each rank's N * k rows go to the other rank, and as many come back.
    const double half_the_rows = tokens * shape.at("top_k").get<double>() / 2.0;
    CHECK(size.at("bytes_out").get<double>() == half_the_rows * row_bytes);
    CHECK(size.at("bytes_back").get<double>() == half_the_rows * row_bytes);
    CHECK(size.at("arrived_rows").get<double>() == 2.0 * half_the_rows);
    for (const char* key : {"plan_seconds", "dispatch_seconds", "combine_seconds", "experts_seconds",
                            "dispatch_gbps", "combine_gbps", "experts_tflops"})
      CHECK_MESSAGE(size.at(key).get<double>() > 0.0, key);
    CHECK(size.at("dispatch_gbps").get<double>() ==
          doctest::Approx(size.at("bytes_out").get<double>() / size.at("dispatch_seconds").get<double>() / 1e9));
  }

  const auto& layer = report.at("layer");
  CHECK(layer.at("tokens_per_rank") == 16 * 128);
  const double parts = layer.at("a2a_seconds").get<double>() + layer.at("experts_seconds").get<double>() +
                       layer.at("rest_seconds").get<double>();
  CHECK(layer.at("a2a_seconds").get<double>() > 0.0);
  CHECK(layer.at("experts_seconds").get<double>() > 0.0);
  CHECK(parts == doctest::Approx(layer.at("total_seconds").get<double>()).epsilon(1e-12));
}

TEST_CASE("bench ep alone: the experts and the layer timed, and why nothing is exchanged") {
  test::ScratchDir dir("bench-ep-alone");
  const fs::path json_path = dir / "bench-ep.json";
  const auto run = test::run_diverge(bench_args(json_path, " --learned-router"));
  REQUIRE_MESSAGE(run.exit_code == 0, run.output);
  CHECK_MESSAGE(run.output.find("ep 1: every expert is on this rank") != std::string::npos, run.output);
  const auto report = nlohmann::json::parse(read_file(json_path));
  CHECK(report.at("routing") == "learned");
  for (const auto& size : report.at("sizes")) {
    CHECK(size.at("dispatch_gbps") == 0.0);
    CHECK(size.at("experts_seconds").get<double>() > 0.0);
  }
  CHECK(report.at("layer").at("a2a_seconds") == 0.0);
}
