// EDL in the model step (EdlTerm) and the routing monitor: loss, gradients, beta = 0, label choice, a training run.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "data/loader/batch.h"
#include "engine/comm/comm.h"
#include "engine/error.h"
#include "engine/training/edl_labels.h"
#include "kernels/ops.h"
#include "model/edl_term.h"
#include "model/routing_monitor.h"
#include "model/transformer.h"
#include "tests/gradcheck.h"
#include "tests/model_support.h"
#include "tests/simulated_group.h"

using namespace diverge;
using namespace diverge::test;

namespace {

constexpr std::int64_t kBatch = 4, kSeq = 5;

config::EdlConfig edl_config(double beta, const std::string& labels) {
  config::EdlConfig e;
  e.beta = beta;
  e.labels = labels;
  return e;
}

// A batch of `rows` rows labelled in "coarse" by coarse, with stream s = row % 2 and sample = 100 + row.
data::Batch labelled_batch(const std::vector<std::int32_t>& coarse) {
  const auto rows = static_cast<std::int64_t>(coarse.size());
  data::Batch b = data::Batch::sized(rows, kSeq + 1, {"coarse"});
  b.domain["coarse"] = coarse;
  for (std::int64_t r = 0; r < rows; ++r) {
    b.stream[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(r % 2);
    b.stream_sample[static_cast<std::size_t>(r)] = static_cast<std::uint64_t>(100 + r);
  }
  return b;
}

// L_EDL from the model's dense probabilities through the one-call op, layer by layer, on copies of the probs.
double independent_edl(const model::Transformer& m, const std::vector<std::int64_t>& layers,
                       std::vector<std::int32_t> domains, std::int64_t labels, double eps) {
  const std::int64_t experts = m.dims().experts;
  std::vector<float> sums(static_cast<std::size_t>(labels * experts)), counts(static_cast<std::size_t>(labels)),
      jsd(static_cast<std::size_t>(labels * labels)), dsums(sums);
  float loss = 0.0f;
  const ops::EdlBuffers buffers{make_view(sums.data(), DType::f32, Device::cpu, {labels, experts}),
                                make_view(counts.data(), DType::f32, Device::cpu, {labels}),
                                make_view(jsd.data(), DType::f32, Device::cpu, {labels, labels}), Tensor{},
                                make_view(dsums.data(), DType::f32, Device::cpu, {labels, experts}),
                                make_view(&loss, DType::f32, Device::cpu, {1})};
  const Tensor domain_tensor =
      make_view(domains.data(), DType::i32, Device::cpu, {static_cast<std::int64_t>(domains.size())});
  double total = 0.0;
  for (const std::int64_t l : layers) {
    std::vector<float> probs = host_copy(m.routing(l).probs);
    const Tensor p = make_view(probs.data(), DType::f32, Device::cpu, {m.dims().tokens, experts});
    ops::expert_divergence_loss(p, Tensor{}, domain_tensor, static_cast<float>(eps), buffers, 0.0f, Tensor{});
    total += loss;
  }
  return total / static_cast<double>(layers.size());
}

// L_EDL of one EdlTerm::forward (the term keeps it on the model's device until take_losses()).
float edl_loss_of(model::EdlTerm& edl, const model::Transformer& m, const std::vector<std::int32_t>& labels,
                  Comm& comm) {
  edl.forward(m, labels, comm);
  return edl.take_losses().mean;
}

}  // namespace

TEST_CASE("EdlTerm: total loss = model loss + beta * L_EDL of the model's dense probabilities") {
  const ThreadCount one_thread(1);
  const std::unique_ptr<Comm> comm = make_single_process_comm();
  const std::vector<std::int32_t> coarse{0, 1, 0, 2};
  for (const auto& [layers, chosen] :
       std::vector<std::pair<config::LayerSelection, std::vector<std::int64_t>>>{{{}, {1, 2}}, {{{2}}, {2}}}) {
    for (const config::Scope scope : {config::Scope::kMicroBatch, config::Scope::kGlobal}) {
      CAPTURE(chosen.size());
      config::EdlConfig e = edl_config(0.3, "coarse");
      e.layers = layers;
      e.scope = scope;
      model::Transformer m(tiny_model(), tiny_loss(1e-2, 1e-3), kBatch, kSeq, 5);
      TokenBatch tokens(kBatch, kSeq, tiny_model().vocab_size, 6);
      model::EdlTerm edl(e, tiny_model(), 3);
      CHECK(edl.layers() == chosen);
      const model::Losses losses = forward_losses(m, tokens.tensor());
      edl.forward(m, edl_labels(e, 3, labelled_batch(coarse)), *comm);
      const model::EdlTerm::Losses edl_losses = edl.take_losses();
      const float l_edl = edl_losses.mean;
      const double want = independent_edl(m, chosen, coarse, 3, e.eps);
      CHECK(l_edl > 0.0f);
      CHECK(std::abs(l_edl - want) <= 1e-6 * std::abs(want));
      CHECK(edl_losses.layers.size() == chosen.size());
      CHECK(losses.total + edl.weighted(l_edl) == doctest::Approx(losses.total + 0.3 * want).epsilon(1e-6));
    }
  }
}

namespace {

// A stand-in for a second rank in the global scope: allreduce adds that rank's buffers, given in call order.
class TwoRankComm final : public SimulatedGroup {
 public:
  explicit TwoRankComm(std::vector<std::vector<float>> other_rank)
      : SimulatedGroup("two ranks, one simulated", 2), other_rank_(std::move(other_rank)) {}
  void allreduce(const Tensor& buf, ReduceOp) override {
    const std::vector<float>& other = other_rank_.at(next_++);
    REQUIRE(static_cast<std::int64_t>(other.size()) == buf.numel());
    for (std::size_t i = 0; i < other.size(); ++i) buf.f32()[i] += other[i];
  }
  std::size_t calls() const { return next_; }

 private:
  std::vector<std::vector<float>> other_rank_;
  std::size_t next_ = 0;
};

// What rank 1 contributes per layer to the all-reduce: its domain sums (M, E) then counts (M), in one block.
std::vector<std::vector<float>> rank_sums(const model::Transformer& m, const std::vector<std::int64_t>& layers,
                                          std::vector<std::int32_t> domains, std::int64_t labels) {
  std::vector<std::vector<float>> out;
  const std::int64_t experts = m.dims().experts;
  const Tensor d = make_view(domains.data(), DType::i32, Device::cpu, {static_cast<std::int64_t>(domains.size())});
  for (const std::int64_t l : layers) {
    std::vector<float> sums(static_cast<std::size_t>(labels * experts)), counts(static_cast<std::size_t>(labels));
    ops::edl_domain_sums(m.routing(l).probs, Tensor{}, d,
                         make_view(sums.data(), DType::f32, Device::cpu, {labels, experts}),
                         make_view(counts.data(), DType::f32, Device::cpu, {labels}));
    sums.insert(sums.end(), counts.begin(), counts.end());
    out.push_back(std::move(sums));
  }
  return out;
}

}  // namespace

TEST_CASE("EdlTerm: global scope on two ranks = micro_batch scope on their concatenated batch") {
  const ThreadCount one_thread(1);
  const std::unique_ptr<Comm> single = make_single_process_comm();
  const std::vector<std::int32_t> labels{0, 1, 2, 1}, rank0{0, 1}, rank1{2, 1};
  TokenBatch tokens(kBatch, kSeq, tiny_model().vocab_size, 71);
  model::Transformer full(tiny_model(), tiny_loss(0.0, 0.0), kBatch, kSeq, 72);
  model::EdlTerm whole(edl_config(0.4, "coarse"), tiny_model(), 3);
  full.forward(tokens.tensor());
  const float want = edl_loss_of(whole, full, labels, *single);

  config::EdlConfig global = edl_config(0.4, "coarse");
  global.scope = config::Scope::kGlobal;
  model::EdlTerm rank_term(global, tiny_model(), 3);
  model::Transformer half(tiny_model(), tiny_loss(0.0, 0.0), kBatch, kSeq, 72);
  half.forward(tokens.tensor().slice_rows(2, 4));
  TwoRankComm comm(rank_sums(half, rank_term.layers(), rank1, 3));
  half.forward(tokens.tensor().slice_rows(0, 2));
  const float got = edl_loss_of(rank_term, half, rank0, comm);
  CHECK(comm.calls() == rank_term.layers().size());  // one all-reduce per layer
  CHECK(got == doctest::Approx(want).epsilon(1e-5));

  // Rank 0's gradient on its own tokens, once the trainer's mean over the two ranks halves it, is the
  // single-process gradient's rows of those tokens.
  const std::int64_t experts = tiny_model().n_experts, rows = 2 * kSeq;
  for (const std::int64_t l : rank_term.layers()) {
    std::vector<float> dfull(static_cast<std::size_t>(kBatch * kSeq * experts)),
        drank(static_cast<std::size_t>(rows * experts));
    whole.hook()(l, full.routing(l).probs, make_view(dfull.data(), DType::f32, Device::cpu, {kBatch * kSeq, experts}));
    rank_term.hook()(l, half.routing(l).probs, make_view(drank.data(), DType::f32, Device::cpu, {rows, experts}));
    for (float& d : drank) d /= 2.0f;
    dfull.resize(drank.size());
    CHECK(max_rel_error(drank, dfull, 1e-3) < 1e-4);
    CHECK(*std::max_element(dfull.begin(), dfull.end()) > 1e-3f);
  }
}

TEST_CASE("EdlTerm: gradient of the total loss with EDL against finite differences (router and attention)") {
  const ThreadCount one_thread(1);
  const std::unique_ptr<Comm> comm = make_single_process_comm();
  config::ModelConfig mc = tiny_model();
  mc.init_std = 0.5;  // routing that differs between domains: at near-uniform routing every JSD sits near eps
  model::Transformer m(mc, tiny_loss(1e-2, 1e-3), kBatch, kSeq, 11);
  TokenBatch tokens(kBatch, kSeq, mc.vocab_size, 12);
  model::EdlTerm edl(edl_config(0.5, "coarse"), mc, 3);
  const std::vector<std::int32_t> labels = edl_labels(edl_config(0.5, "coarse"), 3, labelled_batch({0, 1, 2, 1}));
  auto total_loss = [&] {
    const float lm = forward_losses(m, tokens.tensor()).total;
    return static_cast<double>(lm) + edl.weighted(edl_loss_of(edl, m, labels, *comm));
  };
  total_loss();
  const std::vector<std::int32_t> baseline = routing_choices(m);
  m.backward(edl.hook());
  const std::vector<float> grads = host_copy(m.grads());
  float* params = m.params().f32();
  // The EDL term moves the router's gradient well beyond the tolerance, so the check below can see it.
  std::fill(m.grads().f32(), m.grads().f32() + m.grads().numel(), 0.0f);
  total_loss();
  m.backward();
  const std::vector<float> without_edl = host_copy(m.grads());
  const model::ParamEntry& router = m.layout().entry("model.layers.1.mlp.gate.weight");
  double edl_share = 0.0;
  for (std::int64_t i = router.offset; i < router.offset + router.numel; ++i) {
    const auto at = static_cast<std::size_t>(i);
    edl_share = std::max(edl_share, static_cast<double>(std::abs(grads[at] - without_edl[at])));
  }
  CHECK(edl_share > 1e-2);

  std::mt19937_64 rng(13);
  int checked = 0;
  for (const std::string name :
       {"model.layers.1.mlp.gate.weight", "model.layers.2.mlp.gate.weight", "model.layers.1.self_attn.q_proj.weight"}) {
    const model::ParamEntry& entry = m.layout().entry(name);
    int checked_here = 0;
    for (int attempt = 0; attempt < 40 && checked_here < 5; ++attempt) {
      const std::int64_t index =
          entry.offset + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(entry.numel));
      const float saved = params[index];
      bool routing_changed = false;
      auto loss_at = [&](double delta) {
        params[index] = static_cast<float>(saved + delta);
        const double value = total_loss();
        routing_changed = routing_changed || routing_choices(m) != baseline;
        return value;
      };
      const double numeric = central_difference4(loss_at, kFiniteDifferenceStep);
      params[index] = saved;
      if (routing_changed) continue;
      const double analytic = grads[static_cast<std::size_t>(index)];
      CAPTURE(name);
      CAPTURE(numeric);
      CAPTURE(analytic);
      CHECK(finite_difference_excess(numeric, analytic) <= 0.0);
      ++checked_here;
    }
    CHECK(checked_here == 5);
    checked += checked_here;
  }
  CHECK(checked == 15);
}

TEST_CASE("EdlTerm: beta = 0 leaves losses and gradients bit-identical to a step without EDL") {
  const std::unique_ptr<Comm> comm = make_single_process_comm();
  model::Transformer plain(tiny_model(), tiny_loss(1e-2, 1e-3), kBatch, kSeq, 21);
  model::Transformer with_edl(tiny_model(), tiny_loss(1e-2, 1e-3), kBatch, kSeq, 21);
  TokenBatch tokens(kBatch, kSeq, tiny_model().vocab_size, 22);
  model::EdlTerm edl(edl_config(0.0, "coarse"), tiny_model(), 3);
  CHECK_FALSE(edl.active());

  const model::Losses a = forward_losses(plain, tokens.tensor());
  plain.backward();
  const model::Losses b = forward_losses(with_edl, tokens.tensor());
  const float l_edl =
      edl_loss_of(edl, with_edl, edl_labels(edl_config(0.0, "coarse"), 3, labelled_batch({0, 1, 2, 0})), *comm);
  CHECK(l_edl > 0.0f);  // still computed, for the metrics log
  CHECK_FALSE(static_cast<bool>(edl.hook()));
  with_edl.backward(edl.hook());

  CHECK(std::memcmp(&a, &b, sizeof a) == 0);
  CHECK(b.total + edl.weighted(l_edl) == b.total);
  const Tensor ga = plain.grads(), gb = with_edl.grads();
  CHECK(std::memcmp(ga.data, gb.data, ga.bytes()) == 0);
}

TEST_CASE("EdlTerm: labels from a named system, with errors naming the key") {
  CHECK(edl_labels(edl_config(1.0, "coarse"), 3, labelled_batch({2, 0, 1, 1})) == std::vector<std::int32_t>{2, 0, 1, 1});
  const std::string out_of_range =
      error_message([&] { edl_labels(edl_config(1.0, "coarse"), 3, labelled_batch({0, 3, 1, 1})); });
  CHECK(contains(out_of_range, "edl.labels"));
  CHECK(contains(out_of_range, "outside [0, 3)"));
  const std::string missing = error_message([] { edl_labels(edl_config(1.0, "fine"), 3, labelled_batch({0, 1, 2, 0})); });
  CHECK(contains(missing, "edl.labels: label system 'fine' is not in the batch (systems: coarse)"));
  CHECK(contains(error_message([] { model::EdlTerm(edl_config(1.0, "coarse"), tiny_model(), 0); }), "edl.labels"));
  config::EdlConfig dense_only = edl_config(1.0, "coarse");
  dense_only.layers.indices = {0};
  CHECK(contains(error_message([&] { model::EdlTerm(dense_only, tiny_model(), 3); }), "edl.layers"));
}

TEST_CASE("EdlTerm: 'sequence' labels every row as its own domain") {
  const std::unique_ptr<Comm> comm = make_single_process_comm();
  model::EdlTerm edl(edl_config(1.0, std::string(model::kSequenceLabels)), tiny_model(), 0);
  const std::vector<std::int32_t> labels =
      edl_labels(edl_config(1.0, std::string(model::kSequenceLabels)), 0, labelled_batch({0, 0, 0, 0}));
  CHECK(labels == std::vector<std::int32_t>{0, 1, 2, 3});
  model::Transformer m(tiny_model(), tiny_loss(0.0, 0.0), kBatch, kSeq, 31);
  TokenBatch tokens(kBatch, kSeq, tiny_model().vocab_size, 32);
  m.forward(tokens.tensor());
  const double l_edl = edl_loss_of(edl, m, labels, *comm);
  CHECK(std::abs(l_edl - independent_edl(m, {1, 2}, labels, kBatch, 1e-6)) <= 1e-6 * l_edl);
  // A domain id is checked on the host before it reaches the model's device, whatever the device.
  const std::vector<std::int32_t> too_large{0, 1, 2, 4};
  CHECK(contains(error_message([&] { edl.forward(m, too_large, *comm); }), "outside [0, 4)"));
}

TEST_CASE("EdlTerm: 'random' labels are a fixed seeded partition of the samples into the base system's groups") {
  constexpr std::int64_t kRows = 60, kGroups = 3;
  config::EdlConfig e = edl_config(1.0, std::string(model::kRandomLabels));
  e.random_seed = 7;
  data::Batch batch = labelled_batch(std::vector<std::int32_t>(kRows, 0));
  const std::vector<std::int32_t> labels = edl_labels(e, kGroups, batch);
  CHECK(labels == edl_labels(e, kGroups, batch));
  std::vector<int> per_group(kGroups, 0);
  for (const std::int32_t id : labels) {
    REQUIRE((id >= 0 && id < kGroups));
    ++per_group[static_cast<std::size_t>(id)];
  }
  for (const int n : per_group) CHECK(n >= 10);  // 60 rows: every group well represented

  // A sample keeps its group wherever it sits in a batch: reversing the rows reverses the labels.
  data::Batch reversed = batch;
  std::reverse(reversed.stream.begin(), reversed.stream.end());
  std::reverse(reversed.stream_sample.begin(), reversed.stream_sample.end());
  std::vector<std::int32_t> want(labels.rbegin(), labels.rend());
  CHECK(edl_labels(e, kGroups, reversed) == want);

  e.random_seed = 8;
  CHECK(edl_labels(e, kGroups, batch) != labels);
}

TEST_CASE("EdlTerm: a batch of one domain gives zero loss, a zero EDL gradient and no NaN") {
  const std::unique_ptr<Comm> comm = make_single_process_comm();
  model::Transformer plain(tiny_model(), tiny_loss(1e-2, 0.0), kBatch, kSeq, 41);
  model::Transformer with_edl(tiny_model(), tiny_loss(1e-2, 0.0), kBatch, kSeq, 41);
  TokenBatch tokens(kBatch, kSeq, tiny_model().vocab_size, 42);
  model::EdlTerm edl(edl_config(1.0, "coarse"), tiny_model(), 3);
  plain.forward(tokens.tensor());
  plain.backward();
  with_edl.forward(tokens.tensor());
  const float l_edl =
      edl_loss_of(edl, with_edl, edl_labels(edl_config(1.0, "coarse"), 3, labelled_batch({1, 1, 1, 1})), *comm);
  CHECK(l_edl == 0.0f);
  with_edl.backward(edl.hook());
  const std::vector<float> ga = host_copy(plain.grads()), gb = host_copy(with_edl.grads());
  CHECK(std::all_of(gb.begin(), gb.end(), [](float g) { return std::isfinite(g); }));
  CHECK(ga == gb);
}

TEST_CASE("RoutingMonitor: the window's metrics equal routing_metrics on the concatenated micro-batches") {
  const config::ModelConfig mc = tiny_model();
  model::Transformer m(mc, tiny_loss(0.0, 0.0), kBatch, kSeq, 51);
  model::RoutingMonitor monitor(mc, 3);
  const std::vector<std::vector<std::int32_t>> labels{{0, 1, 2, 0}, {1, 1, 2, 2}};
  const std::int64_t experts = mc.n_experts, k = mc.top_k, tokens_per_batch = kBatch * kSeq;
  std::vector<std::vector<float>> probs(2);
  std::vector<std::vector<std::int32_t>> topk(2);
  for (std::size_t batch = 0; batch < 2; ++batch) {
    TokenBatch tokens(kBatch, kSeq, mc.vocab_size, 52 + batch);
    m.forward(tokens.tensor());
    monitor.add(m, labels[batch]);
    for (const std::int64_t l : {1, 2}) {
      const std::vector<float> p = host_copy(m.routing(l).probs);
      const Tensor t = m.routing(l).topk;
      probs[static_cast<std::size_t>(l - 1)].insert(probs[static_cast<std::size_t>(l - 1)].end(), p.begin(), p.end());
      topk[static_cast<std::size_t>(l - 1)].insert(topk[static_cast<std::size_t>(l - 1)].end(), t.i32(),
                                                   t.i32() + t.numel());
    }
  }
  std::vector<std::int32_t> all_labels = labels[0];
  all_labels.insert(all_labels.end(), labels[1].begin(), labels[1].end());
  const model::RoutingReport report = monitor.finish();
  REQUIRE(report.layers == std::vector<std::int64_t>{1, 2});
  for (std::size_t i = 0; i < 2; ++i) {
    ops::RoutingSums sums(3, experts);
    ops::routing_sums_add(make_view(probs[i].data(), DType::f32, Device::cpu, {2 * tokens_per_batch, experts}),
                          Tensor{}, make_view(all_labels.data(), DType::i32, Device::cpu, {2 * kBatch}),
                          make_view(topk[i].data(), DType::i32, Device::cpu, {2 * tokens_per_batch, k}), sums);
    const ops::RoutingMetrics want = ops::routing_metrics(sums);
    const ops::RoutingMetrics& got = report.metrics[i];
    CHECK(got.jsd_mean == doctest::Approx(want.jsd_mean).epsilon(1e-9));
    CHECK(got.d_total == doctest::Approx(want.d_total).epsilon(1e-9));
    CHECK(got.d_inter == doctest::Approx(want.d_inter).epsilon(1e-9));
    CHECK(got.d_intra == doctest::Approx(want.d_intra).epsilon(1e-9));
    CHECK(got.load_share == want.load_share);
    CHECK(got.dead_experts == want.dead_experts);
    CHECK(got.specialised_fraction == want.specialised_fraction);
    const nlohmann::json& record = report.json["layers"][i];
    CHECK(record["layer"] == report.layers[i]);
    CHECK(record["jsd_mean"].get<double>() == got.jsd_mean);
    CHECK(record["max_over_mean"].get<double>() == got.load_max_over_mean);
    CHECK_FALSE(record.contains("edl"));
  }
  CHECK(contains(report.summary, "jsd "));
  CHECK(contains(report.summary, " dinter "));
  CHECK(contains(report.summary, "%"));
  // The window starts again empty.
  const model::RoutingReport empty = monitor.finish();
  CHECK(empty.metrics[0].d_total == 0.0);
  CHECK(empty.summary == "jsd 0.000 dinter 0%");
}

TEST_CASE("RoutingMonitor: reports the mean of the recorded EDL losses per layer") {
  const std::unique_ptr<Comm> comm = make_single_process_comm();
  const config::ModelConfig mc = tiny_model();
  model::Transformer m(mc, tiny_loss(0.0, 0.0), kBatch, kSeq, 61);
  config::EdlConfig e = edl_config(0.1, "coarse");
  e.layers.indices = {2};
  model::EdlTerm edl(e, mc, 3);
  model::RoutingMonitor monitor(mc, 3);
  double sum = 0.0;
  for (std::uint64_t batch = 0; batch < 2; ++batch) {
    TokenBatch tokens(kBatch, kSeq, mc.vocab_size, 62 + batch);
    m.forward(tokens.tensor());
    edl.forward(m, std::vector<std::int32_t>{0, 1, 2, 0}, *comm);
    const model::EdlTerm::Losses losses = edl.take_losses();
    sum += losses.mean;
    monitor.add(m, std::vector<std::int32_t>{0, 1, 2, 0});
    monitor.record_edl(edl, losses);
  }
  const model::RoutingReport report = monitor.finish();
  CHECK_FALSE(report.json["layers"][0].contains("edl"));
  CHECK(report.json["layers"][1]["edl"].get<double>() == doctest::Approx(sum / 2).epsilon(1e-6));
}

namespace {

// Three domains a model can tell apart: domain d's tokens are drawn from [8 d, 8 d + 8) of a 24-token vocabulary.
constexpr std::int64_t kDomains = 3, kTokensPerDomain = 8, kRunBatch = 6, kRunSeq = 8;

config::ModelConfig separable_model() {
  config::ModelConfig m = tiny_model();
  m.vocab_size = kDomains * kTokensPerDomain;
  m.d_model = 16;
  m.n_layers = 2;
  m.head_dim = 8;
  m.max_seq_len = kRunSeq;
  m.first_k_dense = 0;
  m.n_shared_experts = 0;
  m.shared_expert_hidden = 0;
  m.expert_hidden = 16;
  m.top_k = 1;
  return m;
}

void fill_domain_tokens(std::vector<std::int32_t>& tokens, const std::vector<std::int32_t>& domains,
                        std::mt19937_64& rng) {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::int32_t domain = domains[i / static_cast<std::size_t>(kRunSeq + 1)];
    tokens[i] =
        static_cast<std::int32_t>(domain * kTokensPerDomain + static_cast<std::int32_t>(rng() % kTokensPerDomain));
  }
}

// Trains the separable model for `steps` AdamW steps with EDL weight beta (same seeds for every beta), then returns
// the mean over MoE layers of the inter-domain JSD of its routing on fresh batches, from the routing monitor.
double trained_inter_domain_jsd(double beta, int steps) {
  const ThreadCount one_thread(1);  // tiny ops: a parallel region's wake-up would cost more than the work
  const std::unique_ptr<Comm> comm = make_single_process_comm();
  const config::ModelConfig mc = separable_model();
  model::Transformer model(mc, tiny_loss(1e-2, 0.0), kRunBatch, kRunSeq, 3);
  model::EdlTerm edl(edl_config(beta, "coarse"), mc, kDomains);
  model::RoutingMonitor monitor(mc, kDomains);
  const std::vector<std::int32_t> domains{0, 1, 2, 0, 1, 2};
  std::vector<std::int32_t> tokens(static_cast<std::size_t>(kRunBatch * (kRunSeq + 1)));
  const Tensor batch = make_view(tokens.data(), DType::i32, Device::cpu, {kRunBatch, kRunSeq + 1});
  const Tensor params = model.params(), grads = model.grads();
  const std::int64_t total = model.layout().block_elements(), decayed = model.layout().decay_elements();
  std::vector<float> m(static_cast<std::size_t>(total), 0.0f), v(m);
  const Tensor m_block = make_view(m.data(), DType::f32, Device::cpu, {total});
  const Tensor v_block = make_view(v.data(), DType::f32, Device::cpu, {total});
  std::mt19937_64 rng(4);
  for (int step = 1; step <= steps; ++step) {
    fill_domain_tokens(tokens, domains, rng);
    std::fill(grads.f32(), grads.f32() + total, 0.0f);
    model.forward(batch);
    edl.forward(model, domains, *comm);
    model.backward(edl.hook());
    ops::clip_grad_norm(grads, 1.0f);
    ops::AdamWHyper h{1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, step};
    ops::adamw_step(params.slice_rows(0, decayed), grads.slice_rows(0, decayed), m_block.slice_rows(0, decayed),
                    v_block.slice_rows(0, decayed), h);
    h.weight_decay = 0.0f;
    ops::adamw_step(params.slice_rows(decayed, total), grads.slice_rows(decayed, total),
                    m_block.slice_rows(decayed, total), v_block.slice_rows(decayed, total), h);
  }
  for (int i = 0; i < 8; ++i) {
    fill_domain_tokens(tokens, domains, rng);
    model.forward(batch);
    monitor.add(model, domains);
  }
  const model::RoutingReport report = monitor.finish();
  double jsd = 0.0;
  for (const ops::RoutingMetrics& layer : report.metrics) jsd += layer.jsd_mean;
  MESSAGE("beta " << beta << ": " << report.summary);
  return jsd / static_cast<double>(report.metrics.size());
}

}  // namespace

TEST_CASE("END-TO-END: training with EDL on separable domains routes them apart more than training without") {
  constexpr int kSteps = 100;
  const double without = trained_inter_domain_jsd(0.0, kSteps);
  const double with_edl = trained_inter_domain_jsd(0.1, kSteps);
  CHECK(with_edl > 2.0 * without);
  CHECK(with_edl > without + 0.1);
}
