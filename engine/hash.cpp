// Content hashes with XXH3-128 (libxxhash), formatted "xxh3-128:<hex>".
#include "engine/hash.h"

#include <xxhash.h>

#include <cstdio>

namespace diverge {

namespace {

std::string format_hash(XXH128_hash_t h) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "xxh3-128:%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

}  // namespace

std::string content_hash(std::string_view bytes) { return format_hash(XXH3_128bits(bytes.data(), bytes.size())); }

ContentHasher::ContentHasher() : state_(XXH3_createState()) { XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_)); }

ContentHasher::~ContentHasher() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void ContentHasher::update(const void* data, std::size_t size) {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data, size);
}

std::string ContentHasher::finish() const { return format_hash(XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_))); }

}  // namespace diverge
