// The loader's position for checkpoints: cursor, per-stream counts, and a fingerprint of what they refer to.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace diverge::data {

// One train stream as the state remembers it: enough to notice that the corpus under a checkpoint changed.
struct StreamFingerprint {
  std::string name;  // e.g. "coarse=code,fine=code.python"
  std::uint64_t tokens = 0;
  std::uint64_t documents = 0;
  bool operator==(const StreamFingerprint&) const = default;
};

// Everything a resumed run needs to produce the identical next batches. Batch size and world size are not part
// of it: the cursor counts global samples, so a run may resume with another B or number of ranks.
struct LoaderState {
  static constexpr int kFormatVersion = 1;
  std::uint64_t global_sample = 0;   // global samples consumed by all ranks together
  std::vector<std::uint64_t> taken;  // (streams) samples drawn from each train stream so far
  // Fingerprint: the samples a cursor points at depend on exactly these.
  std::uint64_t seed = 0;
  std::int64_t seq_len = 0;
  std::vector<StreamFingerprint> streams;  // (streams)

  nlohmann::json to_json() const;
  // Parses and validates types, sizes and that the taken counts sum to the cursor. `where` names the file and
  // `path` the state's place in it; errors read "<where>: <path>.<key>: <problem>", e.g.
  // "ckpt/state.json: loader.streams[1].taken: expected a non-negative integer, got -3".
  static LoaderState from_json(const nlohmann::json& j, std::string_view where, const std::string& path);
};

// Empty when `saved` was taken on the same streams, seed and T as `current`; otherwise what differs, e.g.
// "seed 1 (saved) vs 2 (now)" or "stream 'coarse=code,fine=code.c': 1000 tokens (saved) vs 998 (now)".
std::string fingerprint_mismatch(const LoaderState& saved, const LoaderState& current);

}  // namespace diverge::data
