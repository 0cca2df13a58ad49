// `diverge tokenizer train`: learn a byte-level BPE vocabulary from JSONL or text files, save it as tokenizer.json.
#include <cstdio>
#include <memory>
#include <thread>

#include "data/tokenizer/tokenizer_json_writer.h"
#include "data/tokenizer/trainer.h"
#include "engine/files.h"
#include "engine/hash.h"
#include "engine/progress.h"
#include "launch/command.h"

namespace diverge::cli {
namespace {

struct TrainFlags {
  std::vector<std::string> inputs;
  std::size_t vocab_size = 0;
  std::string output;
  std::string pattern = "cl100k";
  std::uint64_t min_frequency = 2;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
};

void run_train(const TrainFlags& flags) {
  data::TrainerOptions options;
  options.inputs.assign(flags.inputs.begin(), flags.inputs.end());
  options.vocab_size = flags.vocab_size;
  options.pattern = data::resolve_pattern(flags.pattern);
  options.min_frequency = flags.min_frequency;
  options.counting.threads = flags.threads;
  options.counting.show_progress = true;
  const data::TrainedBpe bpe = data::train_bpe(options);
  const std::string json = data::tokenizer_json(bpe);
  write_file_atomic(flags.output, json);
  std::printf("read %llu documents (%s), %llu pieces of which %zu distinct\n",
              static_cast<unsigned long long>(bpe.documents), format_bytes(static_cast<double>(bpe.input_bytes)).c_str(),
              static_cast<unsigned long long>(bpe.total_pieces), bpe.pieces.size());
  std::printf("wrote %s: %zu tokens (256 bytes, %zu merges, %s as id %d), %s\n", flags.output.c_str(),
              bpe.tokens.size() + 1, bpe.merges.size(), std::string(data::kEndOfText).c_str(), bpe.end_of_text_id,
              content_hash(json).c_str());
}

Registrar tokenizer_train_command(200, [](CLI::App& root) {
  auto flags = std::make_shared<TrainFlags>();
  auto* group = root.add_subcommand("tokenizer", "Build tokenizers");
  group->require_subcommand(1);
  auto* cmd = group->add_subcommand("train", "Train a byte-level BPE vocabulary and save it as tokenizer.json");
  cmd->footer(
      "Ids 0-255 are the bytes, then one id per merge, then <|endoftext|> (special) as the last id.\n"
      "Inputs: .jsonl (one object per line with a \"text\" field) or .txt (the whole file is one text).\n"
      "Same inputs and flags give the same file, whatever --threads.\n"
      "Example:\n"
      "  diverge tokenizer train --input prose.jsonl,code.jsonl --vocab-size 32000 --output tokenizer.json");
  cmd->add_option("--input", flags->inputs, "Training files, comma-separated")->required()->delimiter(',');
  cmd->add_option("--vocab-size", flags->vocab_size, "Tokens in the vocabulary, <|endoftext|> included (>= 257)")
      ->required();
  cmd->add_option("--output", flags->output, "Where to write tokenizer.json")->required();
  cmd->add_option("--pattern", flags->pattern, "Pre-tokenizer: cl100k, gpt2 or a PCRE2 regex")
      ->capture_default_str();
  cmd->add_option("--min-frequency", flags->min_frequency, "Never merge a pair seen fewer times")
      ->capture_default_str();
  cmd->add_option("--threads", flags->threads, "Threads for counting pieces")
      ->capture_default_str()
      ->check(whole_number_at_least(1));
  cmd->callback([flags] { run_train(*flags); });
});

}  // namespace
}  // namespace diverge::cli
