// `diverge data verify`: every shard of a corpus opened and checked against its manifest (counts, dtype, checksums).
#include <cstdio>
#include <string>

#include "data/shard/indexed_dataset.h"
#include "data/shard/manifest.h"
#include "data/shard/verify.h"
#include "engine/error.h"
#include "engine/progress.h"
#include "launch/command.h"
#include "launch/data_command.h"

namespace diverge::cli {
namespace {

void verify_corpus(const std::string& corpus) {
  const auto manifest = data::Manifest::load(data::find_manifest(corpus));
  Progress progress("verify", manifest.shards.size(), "shards");
  std::size_t failed = 0;
  std::uint64_t documents = 0, tokens = 0;
  for (const auto& shard : manifest.shards) {
    const auto problems = data::verify_shard(manifest, shard);
    for (const auto& p : problems) std::printf("%s\n", p.c_str());
    std::fflush(stdout);
    failed += problems.empty() ? 0 : 1;
    documents += shard.documents;
    tokens += shard.tokens;
    progress.advance(1, shard.tokens * data::dtype_size(data::dtype_from_name(shard.dtype, shard.prefix)));
  }
  progress.finish();
  check(failed == 0, manifest.file.string(),
        std::to_string(failed) + " of " + std::to_string(manifest.shards.size()) + " shards do not match the manifest");
  std::printf("ok: %zu shards, %llu documents, %llu tokens match %s\n", manifest.shards.size(),
              static_cast<unsigned long long>(documents), static_cast<unsigned long long>(tokens),
              manifest.file.string().c_str());
}

Registrar verify_command(31, [](CLI::App& root) {
  auto corpus = std::make_shared<std::string>();
  auto* cmd = data_command(root).add_subcommand(
      "verify",
      "Open every shard of a corpus and check it against the manifest: index structure, dtype, document and\n"
      "token counts, checksums (a damaged .bin is named with its first bad byte range) and token ids below the\n"
      "tokenizer's vocabulary size. Prints one line per problem and exits 1 if there is any.\n"
      "Example: diverge data verify runs/corpus");
  cmd->add_option("corpus", *corpus, "corpus directory (holding manifest.json) or a manifest file")->required();
  cmd->callback([corpus] { verify_corpus(*corpus); });
});

}  // namespace
}  // namespace diverge::cli
