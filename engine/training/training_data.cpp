// Opening the training corpus named by the config, with errors that say how to make a missing one.
#include "engine/training/training_data.h"

#include <filesystem>
#include <limits>

#include "data/loader/manifest_corpus.h"
#include "engine/error.h"

namespace diverge {

namespace {

constexpr const char* kHowToPrepare =
    "make it with `diverge prepare --input data/corpus/bundled --tokenizer data/vocab/bundled/tokenizer.json "
    "--output runs/bundled-corpus` (or run launch/run-demo.sh), then point data.corpus at it "
    "(--set data.corpus=DIR)";

std::filesystem::path manifest_file(const std::string& corpus) {
  check(!corpus.empty(), "data.corpus", std::string("no corpus given; ") + kHowToPrepare);
  std::error_code ec;
  check(std::filesystem::exists(corpus, ec), "data.corpus",
        "'" + corpus + "': no such file or directory; " + kHowToPrepare);
  if (std::filesystem::is_directory(corpus, ec))
    check(std::filesystem::exists(std::filesystem::path(corpus) / data::Manifest::kDefaultName, ec), "data.corpus",
          "'" + corpus + "' holds no " + data::Manifest::kDefaultName + "; " + kHowToPrepare);
  return data::find_manifest(corpus);
}

// The label system with the fewest labels: the coarse domains a per-domain loss is most readable in.
std::string coarsest_label_system(const data::LabelledCorpus& corpus) {
  std::string best;
  std::size_t best_count = std::numeric_limits<std::size_t>::max();
  for (const auto& system : corpus.label_systems()) {
    std::size_t count = corpus.labels_of(system).size();
    if (count < best_count) {
      best = system;
      best_count = count;
    }
  }
  return best;
}

}  // namespace

void resolve_vocab_size(config::ModelConfig& model, const data::Manifest& manifest) {
  auto corpus_vocab = static_cast<std::int64_t>(manifest.tokenizer.vocab_size);
  if (model.vocab_size == 0) {
    model.vocab_size = corpus_vocab;
    return;
  }
  check(model.vocab_size >= corpus_vocab, "model.vocab_size",
        std::to_string(model.vocab_size) + " is smaller than the corpus tokenizer's " + std::to_string(corpus_vocab) +
            " tokens (" + manifest.file.string() + "); set it to 0 to take the tokenizer's size");
}

TrainingData open_training_data(const config::Config& config) {
  auto manifest = data::Manifest::load(manifest_file(config.data.corpus));
  auto corpus = data::open_corpus(manifest);
  std::string system =
      config.data.val_label_system.empty() ? coarsest_label_system(corpus) : config.data.val_label_system;
  check(corpus.has_label_system(system), "data.val_label_system",
        "'" + system + "' is not a label system of " + manifest.file.string() + " (it has " +
            data::comma_list(corpus.label_systems()) + ")");
  return {std::move(manifest), std::move(corpus), system};
}

}  // namespace diverge
