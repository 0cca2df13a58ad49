// RoutingMonitor: per-MoE-layer routing sums over a logging window, finalised into metrics, a JSON record, a summary.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/arena.h"
#include "engine/config/sections.h"
#include "kernels/ops.h"
#include "model/edl_term.h"
#include "model/transformer.h"

namespace diverge::model {

// What one logging window's routing looked like (EDL.md "Routing metrics").
struct RoutingReport {
  std::vector<std::int64_t> layers;          // the MoE layer indices, ascending
  std::vector<ops::RoutingMetrics> metrics;  // one per layer
  // {"layers": [{"layer", "edl" (only when EDL losses were recorded), "jsd_mean", "d_total", "d_inter", "d_intra",
  //  "load_cv", "max_over_mean", "dead", "specialised"}, ...]}
  nlohmann::json json;
  std::string summary;  // "jsd 0.123 dinter 45%": means over the layers, d_inter as a share of d_total
};

// The trainer's use: after every micro-batch's forward, add(model, labels) with the domain ids of the metric label
// system; once per step record_edl(edl, edl.take_losses()) when EDL is computed; every log.every steps, finish().
class RoutingMonitor {
 public:
  // label_count: M of the label system the metrics are taken in; device: the model's, where the window's sums stay
  // until finish() or window_state() reads them (one copy per layer, only then).
  RoutingMonitor(const config::ModelConfig& model, std::int64_t label_count, Device device = Device::cpu);

  // Adds the routing of every MoE layer of model's last forward pass; labels (B) in [0, M), one per sequence.
  void add(const Transformer& model, std::span<const std::int32_t> labels);
  // Adds one step's per-layer EDL losses (losses.layers, for edl.layers()) to the window (reported as their mean).
  void record_edl(const EdlTerm& edl, const EdlTerm::Losses& losses);
  const std::vector<std::int64_t>& layers() const { return layers_; }

  // Sums the open window over the ranks of group into its rank 0 and empties the others', so that the window's
  // total stays what the ranks saw together and rank 0 holds all of it: before finish() reports the group's routing
  // and before window_state() is checkpointed from rank 0. Collective over group; the EDL losses recorded are
  // already the group's and stay as they are.
  void gather_window(Comm& group);
  // The window's report; then the window starts empty.
  RoutingReport finish();

  // The open window's sums as JSON, for a checkpoint taken between two logged steps; restore_window() continues
  // it, so a resumed run logs the very routing record an uninterrupted one does. Error at `where` when the state
  // does not fit this monitor's layers, labels and experts.
  nlohmann::json window_state() const;
  void restore_window(const nlohmann::json& state, std::string_view where);

 private:
  std::vector<std::int64_t> layers_;
  std::int64_t label_count_;
  std::int64_t experts_;
  std::vector<double> edl_sum_;         // one per MoE layer: sum of recorded EDL losses
  std::vector<std::int64_t> edl_seen_;  // one per MoE layer: how many were recorded
  Arena window_arena_;                  // on the model's device: the windows
  std::vector<Tensor> windows_;         // one f64 (ops::routing_window_size) per MoE layer
  Arena labels_arena_;                  // the labels tensor of add(), on the model's device
};

}  // namespace diverge::model
