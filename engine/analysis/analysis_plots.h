// The SVGs of an analysis: per MoE layer a domain x expert heatmap, a JSD heatmap and, for three domains, a ternary.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace diverge::analysis {

// Writes layer<L>_domain_expert.svg, layer<L>_jsd.svg and, with exactly three domains, layer<L>_ternary.svg under
// dir; returns the file names written.
std::vector<std::string> write_layer_plots(const std::filesystem::path& dir, std::int64_t layer,
                                           const std::vector<std::string>& domains, const ops::RoutingMetrics& metrics);

}  // namespace diverge::analysis
