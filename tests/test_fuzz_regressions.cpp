// Replays every kept fuzz input (tests/fuzz/seeds and tests/fuzz/regressions) through its harness, so that the
// regular suite runs the code each harness runs on every input that ever mattered, without a fuzzer.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/files.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/support.h"

using namespace diverge;
using diverge::test::source_path;

namespace {

std::vector<fs::path> kept_inputs(const std::string& kind, std::string_view harness) {
  std::vector<fs::path> files;
  const fs::path dir = source_path("tests/fuzz/" + kind) / harness;
  if (fs::is_directory(dir))
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("every kept fuzz input runs through its harness without a finding") {
  for (const auto& target : fuzz::kTargets) {
    CAPTURE(target.name);
    const auto seeds = kept_inputs("seeds", target.name);
    CHECK_MESSAGE(!seeds.empty(), "every harness has a seed corpus made from real files");
    for (const auto& kind : {"seeds", "regressions"})
      for (const auto& input : kept_inputs(kind, target.name)) {
        CAPTURE(input);
        CHECK_NOTHROW(target.run(read_file(input)));
      }
  }
}

TEST_CASE("every directory of kept fuzz inputs belongs to a harness") {
  for (const auto& kind : {"seeds", "regressions"}) {
    const fs::path dir = source_path("tests/fuzz") / kind;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      CAPTURE(entry.path());
      CHECK(std::any_of(fuzz::kTargets.begin(), fuzz::kTargets.end(),
                        [&](const fuzz::Target& t) { return t.name == name; }));
    }
  }
}
