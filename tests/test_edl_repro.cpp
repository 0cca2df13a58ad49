// Tests the laptop-scale EDL reproduction end to end at toy size: edl_repro.sh trains every variant over two seeds
// and a beta sweep, or chosen variants under mpirun, and edl_report.py writes the report (tables, analysis, plots)
// that results/edl-cpu.md and results/edl-global-cpu.md come from.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/comm/mpi_comm.h"
#include "tests/support.h"
#include "tests/xml_check.h"

using namespace diverge;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Lines of the markdown table whose first cell is `first_cell`.
int rows_starting(const std::string& report, const std::string& first_cell) {
  int count = 0;
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("| " + first_cell + " |", 0) == 0) ++count;
  return count;
}

// The command line of edl_repro.sh at toy size in dir: 4 sequences a micro-batch, one val batch per domain, one
// thread; `settings` are the caller's environment assignments, `extra_sets` more overrides.
std::string repro_command(const fs::path& dir, const fs::path& report, const std::string& settings,
                          const std::string& extra_sets) {
  const fs::path binary = DIVERGE_BINARY;
  return settings + " EXTRA_SETS='data.micro_batch=4 data.val_batches=1 train.threads=1 " + extra_sets +
         "' CORPUS=" + (dir / "corpus").string() + " RUNS=" + (dir / "runs").string() + " REPORT=" +
         report.string() + " BUILD_DIR=" + binary.parent_path().string() + " " +
         test::source_path("benchmarks/edl_repro.sh").string();
}

}  // namespace

TEST_CASE("edl_repro.sh trains every variant and seed and edl_report.py writes the report with analysis and plots") {
  test::ScratchDir dir("edl-repro");
  const fs::path report = dir / "report" / "edl.md";
  fs::create_directories(report.parent_path());
  // 4 steps per run: the pipeline, not the result, is under test.
  const auto result = test::run_command(repro_command(dir.path(), report, "SEEDS='1 2' BETAS='0.03' STEPS=4", ""));
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);

  const std::string text = read_text(report);
  for (const char* variant : {"baseline", "edl-coarse", "edl-fine", "random", "sequence"}) {
    CAPTURE(variant);
    // The per-variant loss and routing tables, the two seeds of the every-run table, the analysis table.
    CHECK(rows_starting(text, variant) == 5);
    CHECK(fs::exists(dir / "runs" / (std::string(variant) + "-s2") / "metrics.jsonl"));
    const fs::path ternary = report.parent_path() / ("edl-ternary-" + std::string(variant) + ".svg");
    REQUIRE(fs::exists(ternary));
    CHECK(test::parse_xml(read_text(ternary)).name == "svg");
  }
  CHECK(text.find("| 0.03 | 1 |") != std::string::npos);  // the sweep's extra beta
  for (const char* plot : {"edl-loss.svg", "edl-routing.svg", "edl-beta.svg"})
    CHECK(test::parse_xml(read_text(report.parent_path() / plot)).name == "svg");
}

TEST_CASE("edl_repro.sh with NP and VARIANTS trains the chosen variants under mpirun and the report gives the cut") {
  if (!mpi_built() || test::run_command("command -v mpirun").exit_code != 0) {
    MESSAGE("skipped: needs a build with MPI and mpirun");
    return;
  }
  test::ScratchDir dir("edl-repro-np");
  const fs::path report = dir / "report" / "edl.md";
  fs::create_directories(report.parent_path());
  // Set but empty, BETAS asks for no sweep.
  const std::string settings = "SEEDS=1 VARIANTS='baseline edl-fine' BETAS='' NP=2 STEPS=2";
  const auto result =
      test::run_command(repro_command(dir.path(), report, settings, "edl.scope=global loss.lb_scope=global"));
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);

  const std::string text = read_text(report);
  for (const char* variant : {"baseline", "edl-fine"}) {
    CAPTURE(variant);
    CHECK(rows_starting(text, variant) == 4);  // loss, every-run, routing and analysis tables, one seed
  }
  for (const char* variant : {"edl-coarse", "random", "sequence"}) {
    CAPTURE(variant);
    CHECK(rows_starting(text, variant) == 0);
    CHECK_FALSE(fs::exists(dir / "runs" / (std::string(variant) + "-s1")));
  }
  // The tokens of a step say that two ranks trained; the global EDL batch holds both ranks' micro-batches.
  CHECK_MESSAGE(text.find("2 ranks, 4 sequences a micro-batch and rank: 8 sequences a step. `edl.scope` global "
                          "(an EDL batch of 8 sequences), `loss.lb_scope` global.") != std::string::npos,
                text);
  CHECK(text.find("beta sweep") == std::string::npos);
  CHECK_FALSE(fs::exists(report.parent_path() / "edl-beta.svg"));
}
