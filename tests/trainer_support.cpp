// Helpers for the trainer tests: synthetic domain shards with a manifest, the micro config, log records, weights.
#include "tests/trainer_support.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "data/shard/indexed_dataset.h"
#include "data/shard/manifest.h"
#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/checkpoint/checkpoint_io.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/hash.h"
#include "engine/training/metrics.h"
#include "tests/support.h"

namespace diverge::test {

namespace {

constexpr std::int32_t kVocab = 64;
constexpr std::int32_t kEod = 0;

// Domain "count": runs counting up by one from a random start (mod 31, ids 1..31). Domain "pairs": random ids
// from 32..63, each immediately repeated. Both are learnable, and differently so, from a bigram context.
std::vector<std::int32_t> make_document(int domain, std::mt19937& rng) {
  std::vector<std::int32_t> doc;
  auto n = static_cast<int>(40 + rng() % 81);
  if (domain == 0) {
    int value = static_cast<int>(rng() % 31);
    for (int i = 0; i < n; ++i) doc.push_back(1 + (value + i) % 31);
  } else {
    while (static_cast<int>(doc.size()) < n) {
      auto id = static_cast<std::int32_t>(32 + rng() % 32);
      doc.push_back(id);
      doc.push_back(id);
    }
  }
  return doc;
}

data::ShardEntry write_shard(const fs::path& dir, const std::string& prefix, int domain, int documents,
                             std::mt19937& rng) {
  fs::create_directories((dir / prefix).parent_path());
  data::IndexedDatasetWriter writer(dir / prefix, data::TokenDtype::uint16);
  for (int d = 0; d < documents; ++d) {
    auto doc = make_document(domain, rng);
    doc.push_back(kEod);
    writer.add_document(doc);
  }
  writer.finish();
  return data::describe_shard(dir, prefix);
}

}  // namespace

fs::path write_synthetic_corpus(const fs::path& dir) {
  std::mt19937 rng(20251123);
  data::Manifest manifest;
  manifest.dir = dir;
  manifest.tokenizer = {"synthetic-64", content_hash("synthetic-64"), static_cast<std::uint64_t>(kVocab), kEod};
  manifest.label_systems = {"coarse"};
  const char* names[] = {"count", "pairs"};
  for (int domain = 0; domain < 2; ++domain) {
    for (const char* split : {"train", "val"}) {
      std::string prefix = std::string(names[domain]) + "/" + split + "-000";
      auto entry = write_shard(dir, prefix, domain, split == std::string("train") ? 60 : 8, rng);
      entry.labels = {{"coarse", names[domain]}};
      entry.split = split;
      manifest.shards.push_back(std::move(entry));
    }
  }
  auto file = dir / data::Manifest::kDefaultName;
  manifest.save(file);
  return file;
}

void write_micro_config(const fs::path& file, const fs::path& corpus, const fs::path& out_dir, std::int64_t steps) {
  nlohmann::ordered_json config = {{"model",
                                    {{"d_model", 32},
                                     {"n_layers", 2},
                                     {"n_heads", 2},
                                     {"n_kv_heads", 1},
                                     {"max_seq_len", 32},
                                     {"n_experts", 4},
                                     {"top_k", 2},
                                     {"expert_hidden", 32}}},
                                   {"data",
                                    {{"corpus", corpus.string()},
                                     {"seq_len", 32},
                                     {"micro_batch", 4},
                                     {"grad_accum", 2},
                                     {"val_every", 4},
                                     {"val_batches", 2}}},
                                   {"optim", {{"lr", 1e-2}, {"min_lr", 1e-3}, {"warmup_steps", 3}}},
                                   {"loss", {{"lb_coef", 0.01}, {"z_coef", 0.001}}},
                                   {"train",
                                    {{"steps", steps},
                                     {"seed", 7},
                                     {"threads", 1},
                                     {"out_dir", out_dir.string()},
                                     {"checkpoint_every", 4},
                                     {"keep_checkpoints", 2}}},
                                   {"log", {{"every", 1}, {"quiet", true}}}};
  write_file_atomic(file, config.dump(2) + "\n");
}

std::vector<nlohmann::json> deterministic_records(const fs::path& metrics) {
  auto records = read_metrics(metrics);
  for (auto& record : records) {
    record.erase("tokens_per_s");
    record.erase("elapsed_s");
  }
  return records;
}

bool checkpoint_is_finite(const fs::path& dir) {
  const LoadedCheckpoint loaded = load_checkpoint(dir);
  std::vector<const SafetensorsFile*> files{&loaded.model, &loaded.optimizer};
  for (const auto* shards : {&loaded.model_shards, &loaded.optimizer_shards})
    for (const SafetensorsFile& shard : *shards) files.push_back(&shard);
  for (const SafetensorsFile* file : files)
    for (const auto& entry : file->tensors()) {
      std::vector<float> values((entry.end - entry.begin) / sizeof(float));
      file->copy_to(entry.name, values.data(), values.size() * sizeof(float));
      for (float v : values)
        if (!std::isfinite(v)) return false;
    }
  return true;
}

std::string final_model_hash(const fs::path& run) {
  const auto latest = read_latest(run / "checkpoints");
  check(latest.has_value(), "final_model_hash", run.string() + " has no checkpoint");
  return content_hash(read_file(*latest / "model.safetensors"));
}

std::int64_t last_logged_step(const fs::path& metrics) {
  std::int64_t step = 0;
  if (fs::exists(metrics))
    for (const auto& record : read_metrics(metrics))
      if (record["type"] == "train") step = std::max(step, record["step"].get<std::int64_t>());
  return step;
}

}  // namespace diverge::test
