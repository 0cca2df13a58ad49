// A stable sort of positions by small integer keys on the GPU: what a deterministic scatter (the embedding's
// backward) and the expert dispatch build on, since neither may add floats in an order that varies.
#pragma once

#include <cstdint>

namespace diverge::cuda {

// order (n) = the positions [0, n) sorted by keys (n), equal keys in position order (a stable sort); starts
// (key_count + 1): where each key's run begins in order, starts[key_count] = n. key_count is at most 2^24. A key
// outside [0, key_count) sorts as the nearest key inside: a wrong order where the caller has not checked its keys,
// never an access outside the buffers. Deterministic: every sum involved is of integers.
void stable_sort_by_key(const std::int32_t* keys, std::int64_t n, std::int32_t key_count, std::int32_t* order,
                        std::int32_t* starts);

}  // namespace diverge::cuda
