// Content hashes (XXH3-128 via libxxhash) used by manifests, checkpoints and tokenizer ids; printed as hex.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace diverge {

// "xxh3-128:<32 hex digits>" of the bytes. Not cryptographic: it guards against corruption, not tampering.
std::string content_hash(std::string_view bytes);

// Streaming form for files too large to hold twice.
class ContentHasher {
 public:
  ContentHasher();
  ~ContentHasher();
  ContentHasher(const ContentHasher&) = delete;
  ContentHasher& operator=(const ContentHasher&) = delete;
  void update(const void* data, std::size_t size);
  std::string finish() const;

 private:
  void* state_;
};

}  // namespace diverge
