// Training checkpoints: the model and optimizer blocks seen as named tensors, plus counters and the config.
#include "engine/training/train_checkpoint.h"

#include <nlohmann/json.hpp>

#include "engine/buffers.h"
#include "engine/checkpoint/checkpoint_io.h"
#include "engine/checkpoint/tensor_match.h"
#include "engine/device_memory.h"
#include "engine/hash.h"

namespace diverge {

namespace {

// One tensor of the state dict in each block that mirrors the parameter block (parameters, m, v).
struct BlockView {
  std::string name;
  Tensor tensor;
};

std::vector<BlockView> block_views(const model::ParamLayout& layout, const Tensor& block,
                                   std::string (*rename)(std::string_view)) {
  std::vector<BlockView> views;
  for (const auto& view : layout.named_views())
    views.push_back({rename != nullptr ? rename(view.name) : view.name, model::named_view(block, view)});
  return views;
}

std::vector<BlockView> optimizer_views(const model::ParamLayout& layout, const Tensor& exp_avg,
                                       const Tensor& exp_avg_sq) {
  auto views = block_views(layout, exp_avg, [](std::string_view n) { return exp_avg_name(n); });
  for (auto& view : block_views(layout, exp_avg_sq, [](std::string_view n) { return exp_avg_sq_name(n); }))
    views.push_back(std::move(view));
  return views;
}

// Checkpoint files are written and read on the host: blocks on a GPU pass through host copies in one staging
// arena (host blocks are used in place). Parameters and moments are f32 on every device, so a checkpoint does not
// depend on where it was written.
class HostBlocks {
 public:
  explicit HostBlocks(std::vector<Tensor> blocks)
      : blocks_(std::move(blocks)),
        staging_("checkpoint staging", Device::cpu,
                 planned_bytes(Device::cpu, [this](Buffers& buffers) { return host_copies(buffers); })) {
    Buffers buffers(staging_);
    host_ = host_copies(buffers);
  }
  const Tensor& operator[](std::size_t i) const { return host_[i]; }
  void download() const {
    for (std::size_t i = 0; i < blocks_.size(); ++i) copy_tensor(blocks_[i], host_[i]);
  }
  void upload() const {
    for (std::size_t i = 0; i < blocks_.size(); ++i) copy_tensor(host_[i], blocks_[i]);
  }

 private:
  // Each block itself where it is on the host, else a flat copy of it taken from buffers.
  std::vector<Tensor> host_copies(Buffers& buffers) const {
    std::vector<Tensor> host;
    for (const Tensor& block : blocks_)
      host.push_back(block.device == Device::cpu ? block : buffers.take(block.dtype, {block.numel()}));
    return host;
  }
  std::vector<Tensor> blocks_;
  Arena staging_;
  std::vector<Tensor> host_;
};

std::vector<NamedTensor> named_tensors(const std::vector<BlockView>& views) {
  std::vector<NamedTensor> tensors;
  for (const auto& view : views) tensors.push_back(named_tensor(view.name, view.tensor));
  return tensors;
}

std::vector<TensorSpec> specs_of(const std::vector<NamedTensor>& tensors) { return {tensors.begin(), tensors.end()}; }

void copy_views(const SafetensorsFile& file, const std::vector<BlockView>& views) {
  for (const auto& view : views) file.copy_to(view.name, view.tensor.data, view.tensor.bytes());
}

nlohmann::json plain_json(const config::Json& doc) { return nlohmann::json::parse(doc.dump()); }

void collect_changes(const nlohmann::json& saved, const nlohmann::json& now, const std::string& path,
                     std::vector<std::string>& changed) {
  if (saved.is_object() && now.is_object() && path.find('.') == std::string::npos) {
    nlohmann::json keys = saved;
    keys.update(now);
    for (const auto& [key, unused] : keys.items()) {
      std::string child = path.empty() ? key : path + "." + key;
      collect_changes(saved.value(key, nlohmann::json()), now.value(key, nlohmann::json()), child, changed);
    }
    return;
  }
  if (saved != now && path != "train.resume") changed.push_back(path);
}

}  // namespace

fs::path checkpoints_root(const config::Config& config) { return fs::path(config.train.out_dir) / "checkpoints"; }

fs::path save_training_checkpoint(const fs::path& root, const config::Config& config, const model::ParamLayout& layout,
                                  const Tensor& params, const OptimizerStep& optimizer, const TrainProgress& progress) {
  TrainingState state;
  state.step = progress.step;
  state.tokens_seen = progress.tokens;
  state.loader = progress.loader.to_json();
  // Initialisation and data order are pure functions of the seed (counter-based generators); no generator state
  // advances during training, so the seed is the whole RNG state.
  state.rng = {{"seed", config.train.seed}};
  state.trainer = progress.trainer;
  state.config = plain_json(config.to_json());
  state.config_hash = content_hash(state.config.dump());
  const HostBlocks host({params, optimizer.exp_avg(), optimizer.exp_avg_sq()});
  host.download();
  auto model_tensors = named_tensors(block_views(layout, host[0], nullptr));
  auto optimizer_tensors = named_tensors(optimizer_views(layout, host[1], host[2]));
  return save_checkpoint(root, state, model_tensors, optimizer_tensors,
                         static_cast<int>(config.train.keep_checkpoints));
}

ResumedCheckpoint load_training_checkpoint(const fs::path& dir, const config::Config& current,
                                           const model::ParamLayout& layout, const Tensor& params,
                                           const OptimizerStep& optimizer) {
  LoadedCheckpoint checkpoint = load_checkpoint(dir);
  const HostBlocks host({params, optimizer.exp_avg(), optimizer.exp_avg_sq()});
  auto model_views = block_views(layout, host[0], nullptr);
  auto moment_views = optimizer_views(layout, host[1], host[2]);
  checkpoint.check_model(specs_of(named_tensors(model_views)));
  checkpoint.check_optimizer(specs_of(named_tensors(moment_views)));
  copy_views(checkpoint.model, model_views);
  copy_views(checkpoint.optimizer, moment_views);
  host.upload();

  ResumedCheckpoint resumed;
  resumed.progress.step = checkpoint.state.step;
  resumed.progress.tokens = checkpoint.state.tokens_seen;
  resumed.progress.loader =
      data::LoaderState::from_json(checkpoint.state.loader, (checkpoint.dir / kStateFile).string(), "loader");
  resumed.progress.trainer = checkpoint.state.trainer;
  collect_changes(checkpoint.state.config, plain_json(current.to_json()), "", resumed.changed_keys);
  return resumed;
}

void load_checkpoint_parameters(const fs::path& dir, const model::ParamLayout& layout, const Tensor& params) {
  LoadedCheckpoint checkpoint = load_checkpoint(dir);
  const HostBlocks host({params});
  auto model_views = block_views(layout, host[0], nullptr);
  checkpoint.check_model(specs_of(named_tensors(model_views)));
  copy_views(checkpoint.model, model_views);
  host.upload();
}

}  // namespace diverge
