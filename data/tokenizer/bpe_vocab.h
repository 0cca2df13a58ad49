// The byte-level BPE model all three file formats load into: token bytes by id, merge rules, whole-piece lookup.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "data/tokenizer/bpe_merge.h"
#include "data/tokenizer/pair_table.h"
#include "data/tokenizer/piece_cache.h"
#include "data/tokenizer/token_store.h"

namespace diverge::data {

// Built by a loader in four steps: add_mergeable() for every vocabulary token, index(), merges (add_merge() or
// derive_merges_from_ranks()), finish(); add_unmergeable() records special/added tokens any time after index().
class BpeVocab {
 public:
  // A vocabulary token: one BPE can produce. The caller has checked that id is unused.
  void add_mergeable(std::int32_t id, std::string_view bytes);
  // A token BPE never produces (special and added tokens): only decode and explicit matching yield it.
  void add_unmergeable(std::int32_t id, std::string_view bytes);

  // Indexes the mergeable tokens by their bytes. Returns two ids sharing the same bytes if there are such.
  std::optional<std::pair<std::int32_t, std::int32_t>> index();
  // The first byte value that has no single-byte token, if any (byte-level BPE needs all 256).
  std::optional<int> missing_byte() const;
  // The mergeable token with exactly these bytes.
  std::optional<std::int32_t> find(std::string_view bytes) const { return lookup_.find(store_, bytes); }

  // Merge rule: (left, right) becomes merged; lower priority merges first. A later rule for the same pair replaces
  // an earlier one, as in Hugging Face's loader.
  void add_merge(std::int32_t left, std::int32_t right, std::int32_t merged, std::uint32_t priority);
  // tiktoken's rule, "merge the adjacent pair whose concatenation has the lowest rank", as a pair table: for every
  // token and every split of it into two tokens, that pair merges into it with priority = its rank (= its id).
  void derive_merges_from_ranks();

  // Prepares whole-piece lookups. With every_token_is_whole (tiktoken; HF's ignore_merges) a piece equal to a token
  // is that token by definition; otherwise only tokens that BPE itself reproduces from their bytes are looked up
  // whole, so the shortcut never changes a result.
  void finish(bool every_token_is_whole);

  // Appends the ids of one pre-token (non-empty).
  void encode_piece(std::string_view piece, BpeScratch& scratch, PieceCache& cache, std::vector<std::int32_t>& out) const;

  const TokenStore& tokens() const { return store_; }
  std::size_t merge_count() const { return pairs_.size(); }

 private:
  TokenStore store_;
  std::vector<std::int32_t> mergeable_;  // ids of vocabulary tokens
  TokenLookup lookup_;                   // all mergeable tokens, for loaders
  TokenLookup whole_;                    // tokens a whole piece may be looked up as
  PairTable pairs_;
  ByteIds byte_ids_{};
};

}  // namespace diverge::data
