// The Expert Divergence Loss, its gradient and the routing divergences of given router logits, in double.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/analysis/edl_input.h"

namespace diverge::analysis {

struct EdlLayerEvaluation {
  std::int64_t layer = 0;
  double loss = 0.0;
  std::vector<double> jsd;  // (M, M): pairwise JSD of the domains' mean routing distributions
  double d_total = 0.0;
  double d_inter = 0.0;
  double d_intra = 0.0;
};

struct EdlEvaluation {
  double loss = 0.0;                       // mean of the chosen layers' losses
  std::vector<EdlLayerEvaluation> layers;  // one per chosen layer, ascending
  std::vector<double> grad_logits;         // (L, S * T, E): d loss / d logits, 0 in the layers not chosen
};

// Through the double instantiations of the engine's CPU kernels, so that a port of EDL is compared with the
// engine's exact maths rather than with its fp32 or GPU rounding.
EdlEvaluation evaluate_edl(const EdlInput& in);

}  // namespace diverge::analysis
