// Verification of a corpus against its manifest: files open and validate, counts, dtype and checksums match.
#pragma once

#include <string>
#include <vector>

#include "data/shard/manifest.h"

namespace diverge::data {

// Checks one shard's files against its manifest entry and the manifest's tokenizer: the index validates, dtype,
// document and token counts agree, the .idx hash matches, every .bin chunk hash matches (a mismatch names the first
// bad byte range) and every token id lies in [0, vocab_size). Returns one line per problem, empty when all is well.
std::vector<std::string> verify_shard(const Manifest& manifest, const ShardEntry& shard);

}  // namespace diverge::data
