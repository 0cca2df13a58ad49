// Saving a trained BPE as a Hugging Face tokenizer.json that `tokenizers`, transformers.js and our loader all read.
#pragma once

#include <string>

#include "data/tokenizer/trainer.h"

namespace diverge::data {

// The tokenizer.json text: model BPE (vocab and "a b" merges in GPT-2's byte-level alphabet), pre-tokenizer
// Sequence[Split(pattern, Isolated), ByteLevel without its own regex], ByteLevel decoder, no normalizer, and
// <|endoftext|> as the one added token (special) with the last id. Same input, same bytes.
std::string tokenizer_json(const TrainedBpe& bpe);

}  // namespace diverge::data
