// Fuzz harness: a tiktoken rank file (named r50k_base.tiktoken, which picks its pattern), loaded and round-tripped.
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/round_trip.h"
#include "tests/fuzz/support.h"

namespace diverge::fuzz {

void fuzz_tiktoken(std::string_view data) {
  const fs::path file = scratch_dir() / "r50k_base.tiktoken";
  write_bytes(file, data);
  load_and_round_trip(file);
}

}  // namespace diverge::fuzz
