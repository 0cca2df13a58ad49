// open_corpus: manifest entries -> IndexedSource shards, cross-checked against the manifest's counts.
#include "data/loader/manifest_corpus.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "data/loader/indexed_source.h"
#include "engine/error.h"

namespace diverge::data {

LabelledCorpus open_corpus(const Manifest& manifest) {
  std::vector<LabelledSource> shards;
  for (std::size_t i = 0; i < manifest.shards.size(); ++i) {
    const ShardEntry& entry = manifest.shards[i];
    const std::string where = (manifest.file.empty() ? std::string("manifest") : manifest.file.string()) + ": shards[" +
                              std::to_string(i) + "] (" + entry.prefix + ")";
    auto source = std::make_shared<IndexedSource>(manifest.shard_path(entry), manifest.tokenizer.vocab_size);
    const IndexedDataset& dataset = source->dataset();
    check(dataset.num_documents() == entry.documents, where,
          std::to_string(dataset.num_documents()) + " documents on disk, the manifest says " +
              std::to_string(entry.documents));
    check(dataset.num_tokens() == entry.tokens, where,
          std::to_string(dataset.num_tokens()) + " tokens on disk, the manifest says " + std::to_string(entry.tokens));
    check(dtype_name(dataset.dtype()) == entry.dtype, where,
          "dtype " + dtype_name(dataset.dtype()) + " on disk, the manifest says " + entry.dtype);
    shards.push_back({entry.prefix, entry.labels, entry.split, std::move(source)});
  }
  return LabelledCorpus(std::move(shards));
}

}  // namespace diverge::data
