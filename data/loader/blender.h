// The deterministic blend: which stream each global sample comes from, with no random numbers at all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace diverge::data {

// Megatron's BlendedDataset rule: global sample g goes to the stream s with the largest weight_s * (g + 1) - taken_s
// (ties to the lowest index), then taken_s grows by one. After n samples every |taken_s - weight_s * n| < 1, so the
// mix never drifts, and the whole state is the cursor plus the taken counts: a restart recomputes nothing random.
class Blender {
 public:
  // Weights must be non-negative with a positive sum; they are normalised to sum to 1.
  explicit Blender(std::vector<double> weights);

  // Assigns the next global sample; returns its stream. The sample's index within that stream is taken()[s] - 1.
  std::size_t next();

  std::uint64_t cursor() const { return cursor_; }
  const std::vector<std::uint64_t>& taken() const { return taken_; }
  const std::vector<double>& weights() const { return weights_; }

  // Resumes from a saved position; throws Error when the counts do not fit the streams or do not sum to the cursor.
  void restore(std::uint64_t cursor, std::vector<std::uint64_t> taken);

 private:
  std::vector<double> weights_;       // (streams) normalised
  std::vector<std::uint64_t> taken_;  // (streams) samples assigned so far
  std::uint64_t cursor_ = 0;          // global samples assigned so far
};

}  // namespace diverge::data
