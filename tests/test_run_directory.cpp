// Tests that a run directory is never silently reused: fresh starts over a run are refused, --overwrite archives the
// old logs, a resume keeps the records it supersedes, and two processes never train into one directory.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/config/config.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/training/metrics.h"
#include "engine/training/run_directory.h"
#include "engine/training/trainer.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;

namespace {

config::Config micro_config(const test::ScratchDir& dir, const fs::path& corpus, std::int64_t steps) {
  test::write_micro_config(dir / "micro.json", corpus, dir / "run", steps);
  return config::Config::load(dir / "micro.json");
}

std::size_t line_count(const fs::path& file) {
  const std::string text = read_file(file);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// The one replaced-<time> directory --overwrite made.
fs::path archive_of(const fs::path& run) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(run))
    if (entry.path().filename().string().rfind("replaced-", 0) == 0) found.push_back(entry.path());
  REQUIRE(found.size() == 1);
  return found[0];
}

}  // namespace

TEST_CASE("run directory: a fresh start into a run is refused and the run's log is left whole") {
  test::ScratchDir dir("rundir-fresh");
  const auto corpus = test::write_synthetic_corpus(dir / "corpus");
  const auto config = micro_config(dir, corpus, 6);
  train(config);
  const std::string log_before = read_file(config.metrics_path());
  CHECK_THROWS_WITH_AS(train(config),
                       doctest::Contains("already holds a run (metrics.jsonl or checkpoints/); continue it with "
                                         "--resume auto, write to another --out, or replace it with --overwrite"),
                       Error);
  CHECK(read_file(config.metrics_path()) == log_before);

  // Through the CLI: one error line, exit 1, the log untouched.
  const auto cli = test::run_diverge("train --config " + (dir / "micro.json").string());
  CHECK(cli.exit_code == 1);
  CHECK(cli.output.find("--overwrite") != std::string::npos);
  CHECK(read_file(config.metrics_path()) == log_before);

  // A start that failed its checks leaves config.json and a lock file: that is not a run.
  test::ScratchDir other("rundir-empty");
  auto empty = micro_config(other, corpus, 6);
  fs::create_directories(empty.train.out_dir);
  write_file_atomic(fs::path(empty.train.out_dir) / "config.json", "{}");
  CHECK_FALSE(holds_run(empty));
  CHECK(train(empty).step == 6);
}

TEST_CASE("run directory: --overwrite archives the old logs, deletes its checkpoints and starts afresh") {
  test::ScratchDir dir("rundir-overwrite");
  const auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = micro_config(dir, corpus, 6);
  train(config);
  const std::string old_log = read_file(config.metrics_path());
  config.train.steps = 4;
  config.optim.warmup_steps = 2;
  const auto summary = train(config, {.overwrite = true});
  CHECK(summary.step == 4);
  const fs::path archive = archive_of(dir / "run");
  CHECK(read_file(archive / "metrics.jsonl") == old_log);
  CHECK(fs::exists(archive / "config.json"));
  CHECK(list_checkpoints(dir / "run/checkpoints").back().step == 4);
  CHECK(read_metrics(config.metrics_path()).back()["step"] == 4);

  const auto cli = test::run_diverge("train --config " + (dir / "micro.json").string() + " --overwrite --resume auto");
  CHECK(cli.exit_code == 2);
  CHECK(cli.output.find("--overwrite starts a new run and --resume continues one") != std::string::npos);
}

TEST_CASE("run directory: resuming from an earlier checkpoint moves the later records aside, never drops them") {
  test::ScratchDir dir("rundir-supersede");
  const auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = micro_config(dir, corpus, 8);
  config.train.keep_checkpoints = 0;
  train(config);
  const auto whole = test::deterministic_records(config.metrics_path());
  const auto before = read_metrics(config.metrics_path());

  config.train.resume = (dir / "run/checkpoints/step-000004").string();
  train(config);
  CHECK(test::deterministic_records(config.metrics_path()) == whole);
  std::vector<nlohmann::json> later;
  for (const auto& record : before)
    if (record["step"].get<std::int64_t>() > 4) later.push_back(record);
  CHECK(read_metrics(superseded_metrics_path(config.metrics_path())) == later);
  CHECK(superseded_metrics_path("runs/x/metrics.jsonl") == "runs/x/metrics.superseded.jsonl");

  // A second resume appends to the superseded records: they only grow.
  train(config);
  CHECK(line_count(superseded_metrics_path(config.metrics_path())) == 2 * later.size());
}

TEST_CASE("run directory: a second process is refused while one trains into the directory") {
  test::ScratchDir dir("rundir-lock");
  const auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = micro_config(dir, corpus, 4);
  fs::create_directories(dir / "run");
  write_file_atomic(dir / "run/.lock", "4242\n");
  // flock locks belong to the open file description: a second open in this process conflicts like another process.
  const int holder = ::open((dir / "run/.lock").c_str(), O_RDWR);
  REQUIRE(holder >= 0);
  REQUIRE(::flock(holder, LOCK_EX | LOCK_NB) == 0);
  CHECK_THROWS_WITH_AS(train(config),
                       doctest::Contains("process 4242 is training into this run directory; wait for it to end or "
                                         "choose another --out"),
                       Error);
  ::close(holder);
  CHECK(train(config).step == 4);
}
