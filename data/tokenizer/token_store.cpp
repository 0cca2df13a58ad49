// Token byte arena and the open-addressing byte-string -> id table used for whole-piece lookups.
#include "data/tokenizer/token_store.h"

#include <cstring>

#include "data/tokenizer/piece_hash.h"

namespace diverge::data {

void TokenStore::set(std::int32_t id, std::string_view bytes) {
  auto index = static_cast<std::size_t>(id);
  if (index >= present_.size()) {
    spans_.resize(index + 1);
    present_.resize(index + 1, 0);
  }
  spans_[index] = {arena_.size(), static_cast<std::uint32_t>(bytes.size())};
  present_[index] = 1;
  arena_.append(bytes);
}

std::optional<std::pair<std::int32_t, std::int32_t>> TokenLookup::build(const TokenStore& store,
                                                                       const std::vector<std::int32_t>& ids) {
  slots_.assign(table_capacity_for(ids.size()), Slot{});
  mask_ = slots_.size() - 1;
  std::optional<std::pair<std::int32_t, std::int32_t>> duplicate;
  for (std::int32_t id : ids) {
    std::string_view bytes = store.bytes(id);
    std::uint64_t hash = piece_hash(bytes);
    std::int32_t existing = find(store, bytes, hash);
    if (existing >= 0) {
      if (!duplicate) duplicate = std::make_pair(existing, id);
      continue;
    }
    std::uint64_t i = hash & mask_;
    while (slots_[i].id >= 0) i = (i + 1) & mask_;
    slots_[i] = {piece_head(bytes), piece_check(hash, bytes.size()), id};
  }
  return duplicate;
}

std::int32_t TokenLookup::find(const TokenStore& store, std::string_view piece, std::uint64_t hash) const {
  if (slots_.empty()) return -1;
  std::uint32_t check = piece_check(hash, piece.size());
  std::uint64_t head = piece_head(piece);
  for (std::uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.id < 0) return -1;
    if (slot.check != check || slot.head != head) continue;
    if (piece.size() <= sizeof(head)) return slot.id;
    std::string_view candidate = store.bytes(slot.id);
    if (candidate.size() == piece.size() &&
        std::memcmp(candidate.data() + sizeof(head), piece.data() + sizeof(head), piece.size() - sizeof(head)) == 0) {
      return slot.id;
    }
  }
}

std::optional<std::int32_t> TokenLookup::find(const TokenStore& store, std::string_view piece) const {
  std::int32_t id = find(store, piece, piece_hash(piece));
  if (id < 0) return std::nullopt;
  return id;
}

}  // namespace diverge::data
