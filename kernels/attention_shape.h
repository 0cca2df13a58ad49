// The shape of causal grouped-query attention, shared by every backend's kernels.
#pragma once

#include <cstdint>

namespace diverge {

// q, out (batch, seq, heads, head_dim); k, v (batch, seq, kv_heads, head_dim). Query head h reads KV head
// h / (heads / kv_heads), as HF's repeat_kv does.
struct AttentionShape {
  std::int64_t batch;
  std::int64_t seq;
  std::int64_t heads;
  std::int64_t kv_heads;
  std::int64_t head_dim;
};

}  // namespace diverge
