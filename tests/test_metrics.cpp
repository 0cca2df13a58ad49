// Tests for the metrics log: records, resume truncation, torn lines, and the human step and eval lines.
#include <doctest/doctest.h>

#include "engine/error.h"
#include "engine/files.h"
#include "engine/training/metrics.h"
#include "tests/support.h"

using namespace diverge;

namespace {

StepRecord step_record(std::int64_t step) {
  StepRecord r;
  r.step = step;
  r.tokens = step * 1000;
  r.loss = {.total = 4.0 + 1.0 / static_cast<double>(step), .lm = 4.0, .lb = 1.0, .z = 0.0};
  r.grad_norm = 0.5;
  r.lr = 1e-3;
  return r;
}

std::vector<std::int64_t> steps_in(const fs::path& path) {
  std::vector<std::int64_t> steps;
  for (const auto& record : read_metrics(path)) steps.push_back(record["step"].get<std::int64_t>());
  return steps;
}

}  // namespace

TEST_CASE("metrics: a fresh log holds every record written, in order, with exact losses") {
  test::ScratchDir dir("metrics-fresh");
  auto path = dir / "run/metrics.jsonl";
  {
    MetricsLog log(path, 0);
    for (std::int64_t s = 1; s <= 3; ++s) log.write(step_record(s).to_json());
    EvalRecord eval{.step = 3, .tokens = 3000, .label_system = "coarse", .val_loss = {{"code", 2.0}, {"prose", 3.0}}};
    log.write(eval.to_json());
  }
  auto records = read_metrics(path);
  REQUIRE(records.size() == 4);
  CHECK(records[2]["type"] == "train");
  CHECK(records[2]["loss"].get<double>() == 4.0 + 1.0 / 3.0);
  CHECK(records[3]["type"] == "eval");
  CHECK(records[3]["val_loss"]["prose"].get<double>() == 3.0);
  CHECK(records[3]["val_loss_mean"].get<double>() == 2.5);
}

TEST_CASE("metrics: resuming from step k keeps records up to k and appends after them") {
  test::ScratchDir dir("metrics-resume");
  auto path = dir / "metrics.jsonl";
  {
    MetricsLog log(path, 0);
    for (std::int64_t s = 1; s <= 5; ++s) log.write(step_record(s).to_json());
  }
  {
    MetricsLog log(path, 3);
    CHECK(steps_in(path) == std::vector<std::int64_t>{1, 2, 3});
    log.write(step_record(4).to_json());
  }
  CHECK(steps_in(path) == std::vector<std::int64_t>{1, 2, 3, 4});
  MetricsLog fresh(path, 0);
  CHECK(read_metrics(path).empty());
}

TEST_CASE("metrics: a torn last line is dropped, a bad line elsewhere is an error naming file and line") {
  test::ScratchDir dir("metrics-torn");
  auto path = dir / "metrics.jsonl";
  write_file_atomic(path, "{\"step\":1}\n{\"step\":2}\n{\"step\":3,\"lo");
  CHECK(steps_in(path) == std::vector<std::int64_t>{1, 2});
  { MetricsLog log(path, 10); }
  CHECK(read_file(path) == "{\"step\":1}\n{\"step\":2}\n");

  write_file_atomic(path, "{\"step\":1}\nnot json\n{\"step\":3}\n");
  CHECK_THROWS_WITH_AS(MetricsLog(path, 10), doctest::Contains("metrics.jsonl:2: malformed JSON at column 2: "), Error);
  write_file_atomic(path, "{\"step\":1}\n[1]\n{\"step\":3}\n");
  CHECK_THROWS_WITH_AS(MetricsLog(path, 10), doctest::Contains("metrics.jsonl:2: not a JSON object"), Error);
  write_file_atomic(path, "{\"step\":1}\n{\"step\":2,\"step\":9}\n");
  CHECK_THROWS_WITH_AS(MetricsLog(path, 10), doctest::Contains("metrics.jsonl:2: step: duplicate key"), Error);
  write_file_atomic(path, "{\"loss\":1}\n");
  CHECK_THROWS_WITH_AS(read_metrics(path), doctest::Contains("metrics.jsonl:1: no integer \"step\""), Error);
}

TEST_CASE("metrics: the human step line and eval line") {
  StepRecord r;
  r.step = 120;
  r.loss = {.total = 4.5124, .lm = 4.4981, .lb = 1.0131, .z = 0.0, .edl = 2.7183};
  r.grad_norm = 0.834;
  r.lr = 5.9e-4;
  r.tokens_per_s = 12345.4;
  CHECK(format_step_line(r, 2000, 250.0) ==
        "step 120/2000 | loss 4.512 (lm 4.498 lb 1.013 z 0.000 edl 2.718) | gnorm 0.83 | lr 5.9e-04 | 12,345 tok/s | "
        "ETA 4m10s");
  r.routing_summary = "jsd 0.123 dinter 45%";
  CHECK(format_step_line(r, 2000, 250.0).find("edl 2.718) | gnorm 0.83 | lr 5.9e-04 | jsd 0.123 dinter 45% | 12,345") !=
        std::string::npos);

  EvalRecord e{.step = 200, .tokens = 0, .label_system = "coarse", .val_loss = {{"code", 3.912}, {"math", 4.25}}};
  CHECK(format_eval_line(e) == "eval step 200 | val loss 4.081 (code 3.912 math 4.250)");

  CHECK(format_thousands(0) == "0");
  CHECK(format_thousands(999) == "999");
  CHECK(format_thousands(1000) == "1,000");
  CHECK(format_thousands(1234567.8) == "1,234,568");
}
