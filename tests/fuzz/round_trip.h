// The property every fuzzed tokenizer that loads must keep: decode(encode(x)) is x, up to the tokenizer's own
// normalisation, on a text that touches every class of input.
#pragma once

#include <filesystem>

namespace diverge::fuzz {

// Loads the tokenizer at path (Tokenizer::load, so the format is detected as for a user) and checks the round trip;
// refusals must be one-line Errors.
void load_and_round_trip(const std::filesystem::path& path);

}  // namespace diverge::fuzz
