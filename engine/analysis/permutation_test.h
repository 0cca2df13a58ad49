// Router-permutation test: how much each domain's loss depends on one layer's experts keeping their identities.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/analysis/domain_batches.h"
#include "engine/config/sections.h"
#include "model/transformer.h"

namespace diverge::analysis {

struct LayerPermutation {
  std::int64_t layer = 0;
  std::vector<std::int32_t> permutation;  // (E): expert e receives the tokens that chose perm[e]
  std::vector<double> loss;               // (M): per-domain loss with this layer's experts shuffled
};

// One layer at a time, every MoE layer: its expert identities shuffled by a permutation drawn from seed + layer,
// the domains evaluated, the layer restored.
std::vector<LayerPermutation> permutation_test(model::Transformer& model, const config::ModelConfig& m,
                                               const std::vector<DomainBatches>& domains, std::uint64_t seed);

}  // namespace diverge::analysis
