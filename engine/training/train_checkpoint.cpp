// Training checkpoints: the model and optimizer blocks seen as named tensors, plus counters and the config.
#include "engine/training/train_checkpoint.h"

#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <tuple>
#include <utility>

#include "engine/buffers.h"
#include "engine/checkpoint/checkpoint_dir.h"
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

// Which of a block's tensors a file holds: all of them, or, under expert parallelism, the replicated ones or this
// rank's experts.
enum class Share { all, replicated, experts };

bool in_share(const model::NamedView& view, Share share) {
  return share == Share::all || view.expert_sharded == (share == Share::experts);
}

std::vector<BlockView> block_views(const model::ParamLayout& layout, const Tensor& block,
                                   std::string (*rename)(std::string_view), Share share = Share::all) {
  std::vector<BlockView> views;
  for (const auto& view : layout.named_views())
    if (in_share(view, share))
      views.push_back({rename != nullptr ? rename(view.name) : view.name, model::named_view(block, view)});
  return views;
}

std::vector<BlockView> optimizer_views(const model::ParamLayout& layout, const Tensor& exp_avg,
                                       const Tensor& exp_avg_sq, Share share = Share::all) {
  auto views = block_views(layout, exp_avg, [](std::string_view n) { return exp_avg_name(n); }, share);
  for (auto& view : block_views(layout, exp_avg_sq, [](std::string_view n) { return exp_avg_sq_name(n); }, share))
    views.push_back(std::move(view));
  return views;
}

// The whole model's parameters as a checkpoint stores them, whatever share of them this rank holds.
std::vector<TensorSpec> whole_model_specs(const config::ModelConfig& model) {
  std::vector<TensorSpec> specs;
  for (const auto& view : model::ParamLayout(model).named_views())
    specs.push_back({view.name, SafeDtype::f32, view.shape});
  return specs;
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

// The parameters and AdamW's moments as whole f32 blocks (P), as a checkpoint names them: the model's and the
// optimizer's own, or host staging for what the optimizer shards (ZeRO-1's moments, and the masters it keeps), which
// gather() fills from every rank's slices (collective) and scatter() hands back to this rank's.
class WholeState {
 public:
  WholeState(const OptimizerStep& optimizer, const Tensor& model_params, std::int64_t block_elements)
      : params(model_params), m(optimizer.exp_avg()), v(optimizer.exp_avg_sq()), optimizer_(optimizer) {
    const bool staged_params = optimizer.keeps_masters(), staged_moments = optimizer.sharded();
    const auto allocate = [&](Buffers& buffers) {
      const auto whole = [&](bool staged) { return staged ? buffers.take(DType::f32, {block_elements}) : Tensor{}; };
      return std::tuple{whole(staged_params), whole(staged_moments), whole(staged_moments)};
    };
    staging_ = std::make_unique<Arena>("gathered optimizer state", Device::cpu, planned_bytes(Device::cpu, allocate));
    Buffers buffers(*staging_);
    const auto [p, gm, gv] = allocate(buffers);
    if (staged_params) params = p;
    if (staged_moments) {
      m = gm;
      v = gv;
    }
  }
  void gather() const {
    if (optimizer_.sharded()) optimizer_.gather_moments(m, v);
    if (optimizer_.keeps_masters()) optimizer_.gather_masters(params);
  }
  void scatter() const {
    if (optimizer_.sharded()) optimizer_.scatter_moments(m, v);
    if (optimizer_.keeps_masters()) optimizer_.scatter_masters(params);
  }

  Tensor params;  // (P) f32
  Tensor m;       // (P) f32
  Tensor v;       // (P) f32

 private:
  const OptimizerStep& optimizer_;
  std::unique_ptr<Arena> staging_;
};

std::vector<NamedTensor> named_tensors(const std::vector<BlockView>& views) {
  std::vector<NamedTensor> tensors;
  for (const auto& view : views) tensors.push_back(named_tensor(view.name, view.tensor));
  return tensors;
}

std::vector<TensorSpec> specs_of(const std::vector<NamedTensor>& tensors) { return {tensors.begin(), tensors.end()}; }

using CopyTensor = void (LoadedCheckpoint::*)(std::string_view, void*, std::size_t) const;

void copy_views(const LoadedCheckpoint& checkpoint, CopyTensor copy, const std::vector<BlockView>& views) {
  for (const auto& view : views) (checkpoint.*copy)(view.name, view.tensor.data, view.tensor.bytes());
}

// The tensor files this rank writes into a checkpoint: rank 0 the main pair (every tensor, or under expert
// parallelism the replicated ones), the first rank of each expert shard that shard's pair. Host blocks: parameters,
// exp_avg, exp_avg_sq.
struct RankFiles {
  std::vector<std::vector<NamedTensor>> tensors;  // one list per file
  std::vector<TensorFile> files;
};

bool experts_apart(const ProcessGroups& groups) { return groups.ep().size() > 1; }

bool writes_files(const ProcessGroups& groups) {
  return groups.world().rank() == 0 || (experts_apart(groups) && groups.edp().rank() == 0);
}

RankFiles rank_files(const model::ParamLayout& layout, const HostBlocks& host, const ProcessGroups& groups) {
  RankFiles out;
  std::vector<std::string> names;
  const auto add_pair = [&](std::string model_file, std::string optimizer_file, Share share) {
    out.tensors.push_back(named_tensors(block_views(layout, host[0], nullptr, share)));
    names.push_back(std::move(model_file));
    out.tensors.push_back(named_tensors(optimizer_views(layout, host[1], host[2], share)));
    names.push_back(std::move(optimizer_file));
  };
  if (groups.world().rank() == 0)
    add_pair(std::string(kModelFile), std::string(kOptimizerFile),
             experts_apart(groups) ? Share::replicated : Share::all);
  if (experts_apart(groups) && groups.edp().rank() == 0) {
    const std::int64_t shard = groups.ep().rank(), shards = groups.ep().size();
    add_pair(expert_shard_file("model", shard, shards), expert_shard_file("optimizer", shard, shards), Share::experts);
  }
  for (std::size_t i = 0; i < names.size(); ++i) out.files.push_back({names[i], out.tensors[i]});
  return out;
}

// Rank 0's pid on every rank: the checkpoint is staged where rank 0 would stage one alone.
std::int64_t lead_pid(Comm& world) {
  std::int32_t pid = static_cast<std::int32_t>(::getpid());
  world.broadcast(make_view(&pid, DType::i32, Device::cpu, {1}), 0);
  return pid;
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
                                  const Tensor& params, const OptimizerStep& optimizer, const TrainProgress& progress,
                                  const ProcessGroups& groups) {
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
  state.layout = {groups.world().size(), groups.ep().size(), config.parallel.zero};

  Comm& world = groups.world();
  const bool lead = world.rank() == 0;
  const fs::path staging = staging_path(root, state.step, lead_pid(world));
  if (lead) begin_checkpoint(root, staging);
  const WholeState whole(optimizer, params, layout.block_elements());
  whole.gather();
  world.barrier();
  if (writes_files(groups)) {
    const HostBlocks host({whole.params, whole.m, whole.v});
    host.download();
    stage_checkpoint_files(root, staging, state.step, "rank" + std::to_string(world.rank()),
                           rank_files(layout, host, groups).files);
  }
  world.barrier();
  if (lead) return commit_checkpoint(root, staging, state, static_cast<int>(config.train.keep_checkpoints));
  return root / checkpoint_name(state.step);
}

ResumedCheckpoint load_training_checkpoint(const fs::path& dir, const config::Config& current,
                                           const model::ParamLayout& layout, const Tensor& params,
                                           const OptimizerStep& optimizer) {
  LoadedCheckpoint checkpoint = load_checkpoint(dir);
  const std::vector<TensorSpec> whole = whole_model_specs(current.model);
  checkpoint.check_model(whole);
  checkpoint.check_optimizer(adamw_state_specs(whole));
  const WholeState state(optimizer, params, layout.block_elements());
  const HostBlocks host({state.params, state.m, state.v});
  copy_views(checkpoint, &LoadedCheckpoint::copy_model, block_views(layout, host[0], nullptr));
  copy_views(checkpoint, &LoadedCheckpoint::copy_optimizer, optimizer_views(layout, host[1], host[2]));
  host.upload();
  state.scatter();

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
  copy_views(checkpoint, &LoadedCheckpoint::copy_model, model_views);
  host.upload();
}

}  // namespace diverge
