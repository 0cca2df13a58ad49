// Each thread's encoding state: regex match data, BPE buffers, a normalisation buffer and piece caches.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "data/tokenizer/bpe_merge.h"
#include "data/tokenizer/piece_cache.h"
#include "data/tokenizer/regex.h"

namespace diverge::data {

// Keeping all mutable encoding state per thread is what makes Tokenizer's const methods safe to call from many
// threads at once without locks.
struct EncodeScratch {
  RegexScratch regex;
  BpeScratch bpe;
  std::string normalized;

  // The cache of the tokenizer whose model has this unique id. A thread keeps caches for the few tokenizers it
  // used last and recycles the oldest, so memory stays bounded however many tokenizers come and go.
  PieceCache& cache_for(std::uint64_t model_id);

 private:
  struct CacheSlot {
    std::uint64_t model_id = 0;  // 0 = unused (model ids start at 1)
    std::uint64_t last_use = 0;
    std::unique_ptr<PieceCache> cache;
  };
  std::array<CacheSlot, 4> caches_;
  std::uint64_t uses_ = 0;
};

EncodeScratch& thread_encode_scratch();

}  // namespace diverge::data
