// `diverge prepare`: tokenize labelled JSONL documents into domain-tagged shards and a manifest.
#include <cstdio>

#include "data/prepare/prepare.h"
#include "engine/progress.h"
#include "launch/command.h"

namespace diverge::cli {
namespace {

void print_summary(const data::PrepareStats& stats) {
  std::printf("%-44s %10s %12s %10s\n", "stream (labels/split)", "docs", "tokens", "text");
  for (const auto& [key, s] : stats.streams)
    std::printf("%-44s %10llu %12llu %10s\n", key.c_str(), static_cast<unsigned long long>(s.documents),
                static_cast<unsigned long long>(s.tokens), format_bytes(static_cast<double>(s.text_bytes)).c_str());
  double mbps = stats.seconds > 0 ? static_cast<double>(stats.text_bytes) / 1e6 / stats.seconds : 0.0;
  std::printf("total: %llu docs, %llu tokens, %s of text in %.1f s (%.2f MB/s, %.2f bytes/token)\n",
              static_cast<unsigned long long>(stats.documents), static_cast<unsigned long long>(stats.tokens),
              format_bytes(static_cast<double>(stats.text_bytes)).c_str(), stats.seconds, mbps,
              stats.tokens > 0 ? static_cast<double>(stats.text_bytes) / static_cast<double>(stats.tokens) : 0.0);
}

Registrar prepare_command(20, [](CLI::App& root) {
  auto options = std::make_shared<data::PrepareOptions>();
  auto* cmd = root.add_subcommand(
      "prepare",
      "Tokenize labelled JSONL documents into Megatron-compatible shards plus manifest.json.\n"
      "Each input line is {\"text\": ..., \"coarse\": ..., \"fine\": ..., \"split\"?: \"train\"|\"val\"}; without a\n"
      "split field the file name (train*.jsonl / val*.jsonl, optionally .xz) gives it. One shard series is written\n"
      "per label tuple and split, every document followed by the tokenizer's end-of-document token.\n"
      "Example: diverge prepare --input data/corpus/bundled --tokenizer data/vocab/bundled/tokenizer.json "
      "--output runs/corpus");
  cmd->add_option("-i,--input", options->inputs, "JSONL files (.jsonl or .jsonl.xz) or directories of them")
      ->required();
  cmd->add_option("-t,--tokenizer", options->tokenizer, "tokenizer file (tokenizer.json, .tiktoken, encoder.json)")
      ->required();
  cmd->add_option("-o,--output", options->output, "corpus directory to create (shards + manifest.json)")->required();
  cmd->add_option("--labels", options->label_systems, "label systems every document carries, coarsest first")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--shard-tokens", options->shard_tokens, "tokens per shard before a domain starts a new one")
      ->capture_default_str();
  cmd->add_option("--threads", options->threads, "tokenizer threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--force", options->force, "replace the corpus already in --output");
  cmd->callback([options] { print_summary(data::prepare_corpus(*options)); });
});

}  // namespace
}  // namespace diverge::cli
