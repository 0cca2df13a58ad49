// Tests the laptop-scale EDL reproduction end to end at toy size: edl_repro.sh trains every variant over two seeds
// and a beta sweep, and edl_report.py writes the report (tables, analysis, plots) that results/edl-cpu.md comes from.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

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

}  // namespace

TEST_CASE("edl_repro.sh trains every variant and seed and edl_report.py writes the report with analysis and plots") {
  test::ScratchDir dir("edl-repro");
  const fs::path binary = DIVERGE_BINARY;
  const fs::path report = dir / "report" / "edl.md";
  fs::create_directories(report.parent_path());
  // 4 steps of 4 sequences per run, one val batch per domain: the pipeline, not the result, is under test.
  const std::string command = "SEEDS='1 2' BETAS='0.03' STEPS=4 "
                              "EXTRA_SETS='data.micro_batch=4 data.val_batches=1 train.threads=1' CORPUS=" +
                              (dir / "corpus").string() + " RUNS=" + (dir / "runs").string() +
                              " REPORT=" + report.string() + " BUILD_DIR=" + binary.parent_path().string() + " " +
                              test::source_path("benchmarks/edl_repro.sh").string();
  const auto result = test::run_command(command);
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
