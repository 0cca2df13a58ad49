// Byte-pair merging of one pre-token: bytes -> ids by repeatedly merging the adjacent pair of lowest priority.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "data/tokenizer/pair_table.h"

namespace diverge::data {

// Buffers reused across calls so that merging allocates nothing once they have grown.
struct BpeScratch {
  struct HeapEntry {
    std::uint32_t priority;
    std::int32_t position;  // index of the pair's left symbol in the piece's byte order
  };
  std::vector<std::int32_t> ids;
  std::vector<MergeRule> rules;  // rules[i] merges ids[i] and ids[i + 1]
  std::vector<std::int32_t> next;
  std::vector<std::int32_t> prev;
  std::vector<HeapEntry> heap;
};

using ByteIds = std::array<std::int32_t, 256>;  // id of each single-byte token

// Appends the ids of a non-empty piece: starting from its bytes, merges the adjacent pair with the lowest priority
// (leftmost on ties) until no pair merges. This is tiktoken's and Hugging Face's rule alike. Short pieces take a
// quadratic scan that is fastest for them; long ones a heap, so that a megabyte without spaces stays linearithmic.
void bpe_merge(std::string_view piece, const ByteIds& byte_ids, const PairTable& pairs, BpeScratch& scratch,
               std::vector<std::int32_t>& out);

// The two strategies bpe_merge picks from, exposed so tests can check that they agree.
void bpe_merge_scan(std::string_view piece, const ByteIds& byte_ids, const PairTable& pairs, BpeScratch& scratch,
                    std::vector<std::int32_t>& out);
void bpe_merge_heap(std::string_view piece, const ByteIds& byte_ids, const PairTable& pairs, BpeScratch& scratch,
                    std::vector<std::int32_t>& out);

}  // namespace diverge::data
