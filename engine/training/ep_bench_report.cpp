// The expert-parallel bench's report: the table `diverge bench ep` prints and the JSON it writes.
#include <cstdio>
#include <string>

#include "engine/training/ep_bench.h"
#include "engine/training/metrics.h"

namespace diverge {
namespace {

constexpr const char* kBandwidthFormula =
    "GB/s = the bytes of the rows a rank sends to the other ranks (rows x d_model x element bytes; its own rows "
    "stay) / the median seconds of the slowest rank / 1e9, as nccl-tests' all-to-all bus bandwidth; dispatch sends "
    "the routed rows out, combine returns the experts' outputs";

std::string printed(const char* format, auto... values) {
  char text[256];
  std::snprintf(text, sizeof text, format, values...);
  return text;
}

std::string header(const EpBenchReport& r) {
  return "bench ep: " + r.device + " | " + r.comm + " | ep " + std::to_string(r.ep) + " of " + std::to_string(r.ranks) +
         " ranks | MoE layer d_model " + std::to_string(r.model) + ", " + std::to_string(r.experts) + " experts (" +
         std::to_string(r.local_experts) + " a rank), top-" + std::to_string(r.top_k) + ", expert_hidden " +
         std::to_string(r.expert_hidden) + " | rows of " + std::to_string(r.model * r.element_bytes) +
         " B | routing: " + (r.forced_balance ? "forced balance" : "learned router") + " | " +
         std::to_string(r.warmup) + " warmup, " + std::to_string(r.iters) +
         " timed iterations: medians of the slowest rank\n";
}

std::string size_row(const EpBenchReport& r, const EpSizeTiming& t) {
  const std::string experts =
      printed("%10.3f %9.2f", t.experts_seconds * 1e3, t.expert_tflops(r.model, r.expert_hidden) * 1e3);
  if (r.ep == 1)
    return printed("%12s %8s %9s %12s %8s %11s %8s ", format_thousands(static_cast<double>(t.tokens)).c_str(), "-", "-",
                   "-", "-", "-", "-") +
           experts + "\n";
  return printed("%12s %8.3f %9.1f %12.1f %8.3f %11.1f %8.3f ", format_thousands(static_cast<double>(t.tokens)).c_str(),
                 t.bytes_out / 1e6, t.plan_seconds * 1e6, t.dispatch_seconds * 1e6, t.dispatch_gbps(),
                 t.combine_seconds * 1e6, t.combine_gbps()) +
         experts + "\n";
}

std::string layer_line(const EpLayerTiming& l) {
  const double total = l.total_seconds();
  const auto share = [&](double s) { return total > 0.0 ? 100.0 * s / total : 0.0; };
  return printed(
      "layer forward + backward at %s tokens a rank: a2a %.3f ms (%.1f%%) | experts %.3f ms (%.1f%%) | "
      "rest %.3f ms (%.1f%%) | total %.3f ms\n",
      format_thousands(static_cast<double>(l.tokens)).c_str(), l.a2a_seconds * 1e3, share(l.a2a_seconds),
      l.experts_seconds * 1e3, share(l.experts_seconds), l.rest_seconds * 1e3, share(l.rest_seconds), total * 1e3);
}

}  // namespace

std::string format_ep_bench_report(const EpBenchReport& r) {
  std::string text = header(r);
  text += printed("%12s %8s %9s %12s %8s %11s %8s %10s %9s\n", "tokens/rank", "MB out", "plan us", "dispatch us",
                  "GB/s", "combine us", "GB/s", "experts ms", "GFLOP/s");
  for (const EpSizeTiming& t : r.sizes) text += size_row(r, t);
  text += layer_line(r.layer);
  if (r.ep == 1)
    return text +
           "ep 1: every expert is on this rank, nothing is exchanged; run under mpirun -np P with "
           "--set parallel.ep=P to time dispatch and combine\n";
  return text + std::string(kBandwidthFormula) + "\n";
}

nlohmann::json ep_bench_report_json(const EpBenchReport& r, const EpBenchMeta& meta) {
  nlohmann::json sizes = nlohmann::json::array();
  for (const EpSizeTiming& t : r.sizes)
    sizes.push_back({{"tokens_per_rank", t.tokens},
                     {"bytes_out", t.bytes_out},
                     {"bytes_back", t.bytes_back},
                     {"arrived_rows", t.arrived_rows},
                     {"plan_seconds", t.plan_seconds},
                     {"dispatch_seconds", t.dispatch_seconds},
                     {"dispatch_gbps", t.dispatch_gbps()},
                     {"combine_seconds", t.combine_seconds},
                     {"combine_gbps", t.combine_gbps()},
                     {"experts_seconds", t.experts_seconds},
                     {"experts_tflops", t.expert_tflops(r.model, r.expert_hidden)}});
  return {{"meta",
           {{"date", meta.date},
            {"commit", meta.commit},
            {"device", r.device},
            {"comm", r.comm},
            {"ranks", r.ranks},
            {"ep", r.ep},
            {"command", meta.command}}},
          {"layer_shape",
           {{"d_model", r.model},
            {"n_experts", r.experts},
            {"local_experts", r.local_experts},
            {"top_k", r.top_k},
            {"expert_hidden", r.expert_hidden},
            {"element_bytes", r.element_bytes}}},
          {"routing", r.forced_balance ? "forced_balance" : "learned"},
          {"warmup", r.warmup},
          {"iters", r.iters},
          {"bandwidth_formula", kBandwidthFormula},
          {"sizes", sizes},
          {"layer",
           {{"tokens_per_rank", r.layer.tokens},
            {"a2a_seconds", r.layer.a2a_seconds},
            {"experts_seconds", r.layer.experts_seconds},
            {"rest_seconds", r.layer.rest_seconds},
            {"total_seconds", r.layer.total_seconds()}}}};
}

}  // namespace diverge
