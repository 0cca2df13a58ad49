// Building the BPE model (indexing, tiktoken pair derivation, whole-piece verification) and encoding one piece.
#include "data/tokenizer/bpe_vocab.h"

#include "data/tokenizer/piece_hash.h"

namespace diverge::data {

void BpeVocab::add_mergeable(std::int32_t id, std::string_view bytes) {
  store_.set(id, bytes);
  mergeable_.push_back(id);
}

void BpeVocab::add_unmergeable(std::int32_t id, std::string_view bytes) { store_.set(id, bytes); }

std::optional<std::pair<std::int32_t, std::int32_t>> BpeVocab::index() {
  auto duplicate = lookup_.build(store_, mergeable_);
  byte_ids_.fill(-1);
  for (int b = 0; b < 256; ++b) {
    char byte = static_cast<char>(b);
    if (auto id = lookup_.find(store_, std::string_view(&byte, 1))) byte_ids_[static_cast<std::size_t>(b)] = *id;
  }
  return duplicate;
}

std::optional<int> BpeVocab::missing_byte() const {
  for (int b = 0; b < 256; ++b) {
    if (byte_ids_[static_cast<std::size_t>(b)] < 0) return b;
  }
  return std::nullopt;
}

void BpeVocab::add_merge(std::int32_t left, std::int32_t right, std::int32_t merged, std::uint32_t priority) {
  pairs_.set(left, right, {priority, merged});
}

void BpeVocab::derive_merges_from_ranks() {
  pairs_.reserve(mergeable_.size() * 2);
  for (std::int32_t id : mergeable_) {
    std::string_view bytes = store_.bytes(id);
    for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
      auto left = lookup_.find(store_, bytes.substr(0, cut));
      if (!left) continue;
      auto right = lookup_.find(store_, bytes.substr(cut));
      if (right) pairs_.set(*left, *right, {static_cast<std::uint32_t>(id), id});
    }
  }
  pairs_.shrink_to_fit();
}

void BpeVocab::finish(bool every_token_is_whole) {
  if (every_token_is_whole) {
    whole_.build(store_, mergeable_);
    return;
  }
  std::vector<std::int32_t> reproduced;
  reproduced.reserve(mergeable_.size());
  BpeScratch scratch;
  std::vector<std::int32_t> ids;
  for (std::int32_t id : mergeable_) {
    ids.clear();
    bpe_merge(store_.bytes(id), byte_ids_, pairs_, scratch, ids);
    if (ids.size() == 1 && ids[0] == id) reproduced.push_back(id);
  }
  whole_.build(store_, reproduced);
}

void BpeVocab::encode_piece(std::string_view piece, BpeScratch& scratch, PieceCache& cache,
                            std::vector<std::int32_t>& out) const {
  if (piece.size() == 1) {
    out.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  std::uint64_t hash = piece_hash(piece);
  bool is_short = piece.size() <= PieceCache::kShortPieceLength;
  std::uint64_t head = is_short ? piece_head(piece) : 0;
  std::uint32_t check = is_short ? piece_check(hash, piece.size()) : 0;
  if (is_short) {
    std::int32_t hot = cache.find_short(hash, head, check);
    if (hot >= 0) {
      out.push_back(hot);
      return;
    }
  }
  std::int32_t whole = whole_.find(store_, piece, hash);
  if (whole >= 0) {
    if (is_short) cache.insert_short(hash, head, check, whole);
    out.push_back(whole);
    return;
  }
  auto cached = cache.find(piece, hash);
  if (!cached.empty()) {
    out.insert(out.end(), cached.begin(), cached.end());
    return;
  }
  std::size_t first = out.size();
  bpe_merge(piece, byte_ids_, pairs_, scratch, out);
  cache.insert(piece, hash, std::span<const std::int32_t>(out.data() + first, out.size() - first));
}

}  // namespace diverge::data
