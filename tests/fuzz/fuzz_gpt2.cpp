// Fuzz harness: GPT-2's encoder.json and vocab.bpe, loaded and round-tripped.
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/round_trip.h"
#include "tests/fuzz/support.h"

namespace diverge::fuzz {

void fuzz_gpt2(std::string_view data) {
  load_and_round_trip(write_file_pair(data, "gpt2", "encoder.json", "vocab.bpe"));
}

}  // namespace diverge::fuzz
