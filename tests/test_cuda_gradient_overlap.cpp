// The gradient buckets' reduction beside the CUDA backward, on the emulator under both stream orders: with the
// gradients' stream deferred, and with the compute stream deferred. A missing event either way changes the result.
// And the expert exchange's stream apart from the buckets'.
#include <doctest/doctest.h>

#ifdef DIVERGE_CUDA_EMULATOR
#include <string>
#include <vector>

#include "engine/comm/device_in_flight.h"
#include "engine/training/gradient_reduction.h"
#include "engine/training/optimizer_step.h"
#include "kernels/cuda/context.h"
#include "model/transformer.h"
#include "tests/cuda_support.h"
#include "tests/emulator/cuda_emulator.h"
#include "tests/model_support.h"
#include "tests/simulated_group.h"

using namespace diverge;
using namespace diverge::test;

namespace {

// A device group of two ranks with the same gradients, the other simulated: a started all-reduce doubles the bucket,
// queued on the gradients' stream as NCCL's kernels are, so it reads and writes where that stream's order says.
class DoublingDeviceComm final : public SimulatedGroup {
 public:
  DoublingDeviceComm() : SimulatedGroup("two device ranks with the same gradients, one simulated", 2) {}
  std::unique_ptr<InFlight> start_allreduce(const Tensor& buf, ReduceOp) override {
    return std::make_unique<DeviceInFlight>(cuda::SideStream::gradients, [&](cudaStream_t stream) {
      emu::enqueue(stream, [data = static_cast<float*>(buf.data), n = buf.numel()] {
        for (std::int64_t i = 0; i < n; ++i) data[i] *= 2.0f;
      });
    });
  }
};

// Which of the compute stream and the gradients' stream defers its work until something waits for it.
void defer(bool compute, bool collectives) {
  emu::defer_stream(cuda::context().stream(), compute);
  emu::defer_stream(cuda::context().side_stream(cuda::SideStream::gradients), collectives);
}

}  // namespace

TEST_CASE("cuda gradient overlap: buckets reduced beside the backward read its final gradients, under both orders") {
  const config::ModelConfig config = cuda_model();
  model::Transformer model(config, tiny_loss(0.1, 0.01), 2, 13, 3, Device::cuda);
  const Tensor grads = model.grads();
  TokenBatch batch(2, 13, config.vocab_size, 4);
  model.forward(batch.tensor());
  model.backward();
  const std::vector<float> once = to_host(grads);

  DoublingDeviceComm comm;
  for (const bool compute_deferred : {false, true}) {
    CAPTURE(compute_deferred);
    OptimizerStep::discard(grads);
    OverlappedReduction reduction(
        whole_block_collectives(comm, comm, model.layout().sharded_elements(), model.layout().block_elements(), 256),
        final_stages(model.layout(), config.n_layers));
    defer(compute_deferred, !compute_deferred);
    model.forward(batch.tensor());
    model.backward({}, [&](std::int64_t stage) { reduction.stage_final(stage, grads); });
    reduction.finish(grads);
    const std::vector<float> doubled = to_host(grads);
    defer(false, false);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < once.size(); ++i) wrong += doubled[i] == 2.0f * once[i] ? 0 : 1;
    CHECK_MESSAGE(wrong == 0, wrong, " of ", once.size(), " gradients are not the reduced final ones");
  }
  model.take_losses();
}

TEST_CASE("cuda side streams: waiting for an exchange does not wait for the gradient buckets started before it") {
  const cuda::Context& context = cuda::context();
  const auto side = [&](cuda::SideStream which) { return context.side_stream(which); };
  emu::defer_stream(side(cuda::SideStream::gradients), true);
  emu::defer_stream(side(cuda::SideStream::exchange), true);
  std::vector<std::string> ran;
  const auto record = [&](const char* name) {
    return [&ran, name](cudaStream_t stream) { emu::enqueue(stream, [&ran, name] { ran.emplace_back(name); }); };
  };
  const cuda::CollectiveWork bucket(cuda::SideStream::gradients, record("bucket"));
  const cuda::CollectiveWork exchange(cuda::SideStream::exchange, record("exchange"));
  exchange.join();
  cuda::context().synchronize();
  CHECK(ran == std::vector<std::string>{"exchange"});
  bucket.join();
  cuda::context().synchronize();
  CHECK(ran == std::vector<std::string>{"exchange", "bucket"});
  emu::defer_stream(side(cuda::SideStream::gradients), false);
  emu::defer_stream(side(cuda::SideStream::exchange), false);
}

#endif  // DIVERGE_CUDA_EMULATOR
