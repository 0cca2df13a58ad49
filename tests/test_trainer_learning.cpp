// Tests that a short tiny-cpu run on the bundled corpus learns: losses end well below the corpus's unigram entropy.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "data/shard/indexed_dataset.h"
#include "data/shard/manifest.h"
#include "engine/config/config.h"
#include "engine/training/metrics.h"
#include "engine/training/trainer.h"
#include "tests/support.h"

using namespace diverge;

namespace {

// The entropy (nats per token) of the train tokens' frequency distribution: the loss of the best model that
// ignores context. A model that learned anything from context is below it.
double unigram_entropy(const data::Manifest& manifest) {
  std::map<std::int32_t, std::uint64_t> counts;
  std::uint64_t total = 0;
  for (const auto& shard : manifest.shards) {
    if (shard.split != "train") continue;
    data::IndexedDataset dataset(manifest.shard_path(shard));
    for (std::size_t d = 0; d < dataset.num_documents(); ++d) {
      std::vector<std::int32_t> tokens(dataset.document_length(d));
      dataset.read_document(d, 0, tokens.size(), tokens.data());
      for (std::int32_t token : tokens) ++counts[token];
      total += tokens.size();
    }
  }
  double entropy = 0.0;
  for (const auto& [token, count] : counts) {
    double p = static_cast<double>(count) / static_cast<double>(total);
    entropy -= p * std::log(p);
  }
  return entropy;
}

}  // namespace

TEST_CASE("trainer learning: a one-minute tiny-cpu run on the bundled corpus ends well below the unigram entropy") {
  test::ScratchDir dir("trainer-learning");
  // A 512-token vocabulary trained on the corpus itself: with the bundled 8k vocabulary the LM head dominates the
  // step, and a minute of one core sees too few tokens for 8k embeddings to move far from the unigram fit.
  auto train_text = test::source_path("data/corpus/bundled/train.jsonl.xz").string();
  auto tokenizer = dir / "tokenizer.json";
  auto trained = test::run_diverge("tokenizer train --input " + train_text + " --vocab-size 512 --threads 1 --output " +
                                   tokenizer.string());
  REQUIRE_MESSAGE(trained.exit_code == 0, trained.output);
  auto corpus = dir / "corpus";
  auto prepared = test::run_diverge("prepare --input " + test::source_path("data/corpus/bundled").string() +
                                    " --tokenizer " + tokenizer.string() + " --threads 1 --output " + corpus.string());
  REQUIRE_MESSAGE(prepared.exit_code == 0, prepared.output);
  double entropy = unigram_entropy(data::Manifest::load(corpus / "manifest.json"));

  constexpr std::int64_t kSteps = 300;
  auto config = config::Config::load(
      test::source_path("configs/tiny-cpu.json"),
      {"data.corpus=" + corpus.string(), "train.out_dir=" + (dir / "run").string(),
       "train.steps=" + std::to_string(kSteps), "optim.warmup_steps=10", "data.micro_batch=8",
       "data.val_every=" + std::to_string(kSteps), "train.checkpoint_every=0", "train.threads=1", "log.quiet=true"});
  auto summary = train(config);
  auto records = read_metrics(summary.metrics);
  REQUIRE(records.size() >= 2);
  const auto& last_train = records[records.size() - 2];
  const auto& eval = records.back();
  REQUIRE(last_train["type"] == "train");
  REQUIRE(eval["type"] == "eval");
  double train_lm = last_train["lm"].get<double>();
  double val = eval["val_loss_mean"].get<double>();
  MESSAGE("unigram entropy " << entropy << " nats; after " << kSteps << " steps: train lm " << train_lm << ", val "
                             << val);
  CHECK(train_lm < entropy - 0.5);
  CHECK(val < entropy - 0.5);
}
