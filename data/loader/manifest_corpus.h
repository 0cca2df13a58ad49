// Opening a corpus manifest's shards as the loader's labelled corpus.
#pragma once

#include "data/loader/labelled_corpus.h"
#include "data/shard/manifest.h"

namespace diverge::data {

// Maps every shard of the manifest (validated as IndexedDataset does) with its labels and split, and checks that
// each holds the documents and tokens the manifest records; errors name the manifest and the shard, e.g.
// "corpus/manifest.json: shards[3] (code.c/train-000): 1200 tokens on disk, the manifest says 1300". Token ids are
// checked against the manifest's tokenizer.vocab_size as the loader reads them.
LabelledCorpus open_corpus(const Manifest& manifest);

}  // namespace diverge::data
