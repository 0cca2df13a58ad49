// Fuzz harness: a Hugging Face tokenizer.json, with a tokenizer_config.json beside it when the input has one,
// loaded and round-tripped.
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/round_trip.h"
#include "tests/fuzz/support.h"

namespace diverge::fuzz {

void fuzz_hugging_face(std::string_view data) {
  load_and_round_trip(write_file_pair(data, "hugging_face", "tokenizer.json", "tokenizer_config.json"));
}

}  // namespace diverge::fuzz
