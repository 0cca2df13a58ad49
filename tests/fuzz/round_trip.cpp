// Loading a fuzzed tokenizer file and checking that encoding and decoding give the text back.
#include "tests/fuzz/round_trip.h"

#include <string>

#include "data/tokenizer/tokenizer.h"
#include "tests/fuzz/support.h"

namespace diverge::fuzz {
namespace {

// ASCII words, digits, spaces and newlines, a special token's text, a letter NFC composes, and invalid UTF-8.
const std::string kText = "Hello world, it's 2024!\n\n  indented\tab <|endoftext|> cafe\xcc\x81 \xe4\xb8\xad \xff\xfe.";

}  // namespace

void load_and_round_trip(const std::filesystem::path& path) {
  refusals_are_errors([&] {
    const data::Tokenizer tokenizer = data::Tokenizer::load(path);
    require(tokenizer.decode(tokenizer.encode(kText)) == tokenizer.normalize(kText),
            "decode(encode(x)) is not the normalised x");
    (void)tokenizer.encode_with_special(kText);
  });
}

}  // namespace diverge::fuzz
