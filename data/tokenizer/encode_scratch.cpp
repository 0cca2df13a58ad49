// Per-thread encoding state and its small least-recently-used set of piece caches.
#include "data/tokenizer/encode_scratch.h"

#include <algorithm>

namespace diverge::data {

PieceCache& EncodeScratch::cache_for(std::uint64_t model_id) {
  ++uses_;
  for (auto& slot : caches_) {
    if (slot.model_id == model_id) {
      slot.last_use = uses_;
      return *slot.cache;
    }
  }
  auto& oldest = *std::min_element(caches_.begin(), caches_.end(),
                                   [](const CacheSlot& a, const CacheSlot& b) { return a.last_use < b.last_use; });
  oldest.model_id = model_id;
  oldest.last_use = uses_;
  oldest.cache = std::make_unique<PieceCache>();
  return *oldest.cache;
}

EncodeScratch& thread_encode_scratch() {
  thread_local EncodeScratch scratch;
  return scratch;
}

}  // namespace diverge::data
