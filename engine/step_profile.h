// Where a training step's time goes, by part: ops name their part, and a recording profile stamps the device's
// clock each time the running part changes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "engine/tensor.h"

namespace diverge {

// The parts a step is broken into (`diverge bench`): the kernels a MoE step is made of, and what is left over.
enum class StepPart : std::uint8_t {
  attention,        // the attention kernels, forward and backward
  expert_gemm,      // the routed experts' feed-forward
  dense_gemm,       // every other matrix product: projections, dense FFNs, the LM head
  router_dispatch,  // router, top-k, permutation and combine, load-balance and z-loss statistics
  edl,              // the EDL loss and the routing-metric sums
  optimizer,        // gradient norm, clipping, AdamW
  communication,    // collectives between ranks; on GPUs the gradient buckets only where the backward does not
                    // hide them (the compute stream's wait for them)
  other,            // everything else: embedding, norms, RoPE, activations, the loss, host work between ops
};
inline constexpr std::size_t kStepParts = 8;
const char* step_part_name(StepPart part);

using StepPartSeconds = std::array<double, kStepParts>;

// Marks the enclosed work as one part while a profile records; the innermost open scope wins. Costs one load and
// branch when nothing records. Ops open one at their top.
class PartScope {
 public:
  explicit PartScope(StepPart part);
  ~PartScope();
  PartScope(const PartScope&) = delete;
  PartScope& operator=(const PartScope&) = delete;

 private:
  bool active_;
};

// Records between start() and stop() on one device: on the CPU the host clock (ops finish before they return); on
// CUDA events on the compute stream, so the profile times the kernels, not their launches, and adds no host wait
// until stop(). One profile records at a time, from one thread.
class StepProfile {
 public:
  static void start(Device device);
  // Waits for the device and returns the seconds each part ran since start(); `other` holds the time outside any
  // scope.
  static StepPartSeconds stop();
  static bool recording();
};

}  // namespace diverge
