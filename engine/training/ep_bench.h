// `diverge bench ep`: a config's MoE layer under expert parallelism timed in pieces: the token exchange (dispatch,
// combine) against message size, the local experts' compute, and one layer's forward + backward by part.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/config/config.h"

namespace diverge {

struct EpBenchOptions {
  std::vector<std::int64_t> sizes;  // tokens per rank to time the exchange at; empty: 64, 128, ... up to B * T
  std::int64_t warmup = 3;          // untimed iterations before each measurement
  std::int64_t iters = 20;          // timed iterations; every figure is their median
  // Route by the router's top-k of random inputs; otherwise the bench sets parallel.ep_force_balance, whatever the
  // config says.
  bool learned_routing = false;
};

// The exchange and the experts at one message size. Seconds are medians over the timed iterations of the slowest
// rank's time (every rank starts an iteration together, after a barrier); bytes and rows are means over the ranks.
struct EpSizeTiming {
  std::int64_t tokens = 0;        // per rank: N, routing N * k rows
  double bytes_out = 0.0;         // dispatch: the bytes of the rows a rank sends to the other ranks
  double bytes_back = 0.0;        // combine: the bytes of the rows a rank returns to the other ranks
  double arrived_rows = 0.0;      // the rows a rank's experts receive, its own included
  double plan_seconds = 0.0;      // routed counts all-gathered, arrivals planned (plan_exchange)
  double dispatch_seconds = 0.0;  // rows to their experts' ranks (start_send_to_experts, waited for)
  double combine_seconds = 0.0;   // expert outputs back home (return_from_experts)
  double experts_seconds = 0.0;   // the local experts' forward + backward on the arrived rows

  // Bytes that leave a rank per second, as nccl-tests' all-to-all bus bandwidth counts them: the rows to other ranks
  // times C times the activation's bytes, over the median seconds; 0 when nothing leaves (ep 1).
  double dispatch_gbps() const;
  double combine_gbps() const;
  // The experts' model FLOP/s: 6 x 3 matrices x C x F per arrived row (forward 2, backward 4), over the seconds.
  double expert_tflops(std::int64_t model, std::int64_t hidden) const;
};

// One MoE layer's forward + backward (moe_forward, moe_backward) at B * T tokens a rank, by the step profile's
// parts: a2a the collectives (communication), experts the expert FFN (expert_gemm), rest the others (router,
// dispatch, combine, shared experts, host work). Each rank takes the iteration with its median total; the parts
// are the mean over ranks of those, so they sum to the total.
struct EpLayerTiming {
  std::int64_t tokens = 0;
  double a2a_seconds = 0.0;
  double experts_seconds = 0.0;
  double rest_seconds = 0.0;
  double total_seconds() const { return a2a_seconds + experts_seconds + rest_seconds; }
};

struct EpBenchReport {
  std::string device;  // "CPU, 2 threads" or the GPU's name
  std::string comm;    // the ep group's transport, e.g. "MPI, 2 ranks"
  int ranks = 1;       // the world
  std::int64_t ep = 1;
  std::int64_t model = 0, experts = 0, local_experts = 0, top_k = 0, expert_hidden = 0;
  std::int64_t element_bytes = 0;  // of an activation row's element: 4 on the CPU (f32), 2 on CUDA (bf16)
  bool forced_balance = true;
  std::int64_t warmup = 0, iters = 0;
  std::vector<EpSizeTiming> sizes;
  EpLayerTiming layer;
};

// What the JSON's meta says about the run beside the report: when, which build, how it was started.
struct EpBenchMeta {
  std::string date;     // UTC, ISO 8601
  std::string commit;   // the source the binary was built from
  std::string command;  // the command line
};

// Collective over the world (every rank calls it): builds one MoE layer of config over the ranks' ep groups
// (parallel.ep, which must divide the world) on its device and times it: on CUDA the rows travel over the device
// group (NCCL). Errors name the key at fault.
EpBenchReport bench_ep(const config::Config& config, const EpBenchOptions& options);

// The tokens per rank bench ep sweeps by default: 64, 128, ... doubling up to and including `most`.
std::vector<std::int64_t> default_ep_sizes(std::int64_t most);

// The report as the table `diverge bench ep` prints, and as the JSON --json writes.
std::string format_ep_bench_report(const EpBenchReport& report);
nlohmann::json ep_bench_report_json(const EpBenchReport& report, const EpBenchMeta& meta);

}  // namespace diverge
