// One evaluation pass over every domain's val rows: the mean loss per domain and, if asked, the routing sums.
#pragma once

#include <vector>

#include "engine/analysis/domain_batches.h"
#include "kernels/ops.h"
#include "model/transformer.h"

namespace diverge::analysis {

struct PassResult {
  std::vector<double> loss;               // (M): mean LM loss per token of each domain
  std::vector<ops::RoutingSums> routing;  // (MoE layers) in layer order; empty unless asked for
};

// Runs the model as it stands (router biases, permuted weights included) over every domain.
PassResult run_domain_pass(model::Transformer& model, const std::vector<DomainBatches>& domains, bool with_routing);

}  // namespace diverge::analysis
