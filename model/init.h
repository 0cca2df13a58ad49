// Seeded parameter initialisation (MODEL.md): counter-based normal samples, independent of threads and order.
#pragma once

#include <cstdint>

#include "engine/tensor.h"
#include "model/param_layout.h"

namespace diverge::model {

// A standard normal sample determined only by (seed, parameter index, element index): SplitMix64 of the counters
// gives two uniforms per element pair, Box-Muller turns them into a cosine (even element) and sine (odd) sample.
double counter_normal(std::uint64_t seed, std::uint64_t param_index, std::uint64_t element);

// Fills every entry of layout in params (P) by its InitRule (std init_std, residual projections init_std /
// sqrt(2 n_layers), norms 1); padding is left as it is (zero from the arena). The block must be host memory.
void init_parameters(const ParamLayout& layout, const Tensor& params, std::uint64_t seed, double init_std,
                     std::int64_t n_layers);

}  // namespace diverge::model
