// The shape of a tensor that rotary position embedding rotates, shared by every backend's kernels.
#pragma once

#include <cstdint>

namespace diverge {

// Extents of a (batch, seq, heads, head_dim) tensor rotated by position t = its index along seq.
struct RopeShape {
  std::int64_t batch;
  std::int64_t seq;
  std::int64_t heads;
  std::int64_t head_dim;  // even
};

}  // namespace diverge
