// The gradients' reduction during the backward: every collective starts only once the backward has finished its
// elements, most start before the backward ends, and together they cover the block once.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "engine/training/gradient_reduction.h"
#include "model/transformer.h"
#include "tests/model_support.h"
#include "tests/simulated_group.h"
#include "tests/support.h"

using namespace diverge;
using namespace diverge::test;

namespace {

// A group of two whose simulated second rank contributes zeros: an all-reduce keeps its buffer, and what it saw.
class SnapshotComm final : public SimulatedGroup {
 public:
  struct Seen {
    const float* data = nullptr;
    std::vector<float> values;
  };

  SnapshotComm() : SimulatedGroup("two ranks, the other adding zeros, keeping what they reduced", 2) {}
  void allreduce(const Tensor& buf, ReduceOp) override {
    seen_.push_back({buf.f32(), std::vector<float>(buf.f32(), buf.f32() + buf.numel())});
  }
  const std::vector<Seen>& seen() const { return seen_; }

 private:
  std::vector<Seen> seen_;
};

}  // namespace

TEST_CASE("gradient reduction: buckets start as the backward finishes them, each seeing its final gradients") {
  const config::ModelConfig config = tiny_model();
  model::Transformer model(config, tiny_loss(0.1, 0.05), 2, 5, 7);
  const Tensor grads = model.grads();
  const std::int64_t block = model.layout().block_elements();
  SnapshotComm comm;
  // Buckets far smaller than the default, so that the tiny model has many and each stage readies some.
  OverlappedReduction reduction(
      whole_block_collectives(comm, comm, model.layout().sharded_elements(), block, 96),
      final_stages(model.layout(), config.n_layers));

  // Two micro-batches, the stages reported by the last: a bucket started early would see the first's gradients
  // or part of the second's, and differ from the block's final values.
  TokenBatch first(2, 5, config.vocab_size, 8), second(2, 5, config.vocab_size, 9);
  model.forward(first.tensor());
  model.backward();
  model.forward(second.tensor());
  std::vector<std::int64_t> stages;
  std::vector<std::size_t> started_by_stage;
  model.backward({}, [&](std::int64_t stage) {
    stages.push_back(stage);
    reduction.stage_final(stage, grads);
    started_by_stage.push_back(comm.seen().size());
  });
  const std::size_t before_the_end = started_by_stage.at(started_by_stage.size() - 2);
  reduction.finish(grads);

  std::vector<std::int64_t> in_order(static_cast<std::size_t>(model::gradient_stages(config.n_layers)));
  for (std::size_t i = 0; i < in_order.size(); ++i) in_order[i] = static_cast<std::int64_t>(i);
  CHECK(stages == in_order);

  std::vector<int> covered(static_cast<std::size_t>(block), 0);
  for (const SnapshotComm::Seen& s : comm.seen()) {
    const std::ptrdiff_t begin = s.data - grads.f32();
    CAPTURE(begin);
    CHECK(std::memcmp(s.values.data(), s.data, s.values.size() * sizeof(float)) == 0);
    for (std::size_t i = 0; i < s.values.size(); ++i) ++covered[static_cast<std::size_t>(begin) + i];
  }
  for (std::int64_t i = 0; i < block; ++i) REQUIRE(covered[static_cast<std::size_t>(i)] == 1);
  // Only the buckets holding the embedding's gradients (the last stage) wait for the backward's end.
  MESSAGE(before_the_end << " of " << comm.seen().size() << " buckets started before the backward's last stage");
  CHECK(before_the_end > comm.seen().size() / 2);
}
