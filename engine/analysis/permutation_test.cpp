// The router-permutation test, layer by layer.
#include "engine/analysis/permutation_test.h"

#include "engine/analysis/domain_pass.h"
#include "engine/analysis/router_permutation.h"

namespace diverge::analysis {

std::vector<LayerPermutation> permutation_test(model::Transformer& model, const config::ModelConfig& m,
                                               const std::vector<DomainBatches>& domains, std::uint64_t seed) {
  std::vector<LayerPermutation> results;
  for (std::int64_t layer = m.first_k_dense; layer < m.n_layers; ++layer) {
    LayerPermutation result{layer, seeded_permutation(m.n_experts, seed + static_cast<std::uint64_t>(layer)), {}};
    {
      const RouterPermutation shuffled(model, layer, result.permutation);
      result.loss = run_domain_pass(model, domains, false).loss;
    }
    results.push_back(std::move(result));
  }
  return results;
}

}  // namespace diverge::analysis
