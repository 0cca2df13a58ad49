// BPE merge learning with incremental pair counts (pair -> count, pair -> words holding it) and a lazy max-heap.
#include "data/tokenizer/trainer.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <queue>
#include <unordered_map>

#include "data/tokenizer/presets.h"
#include "engine/error.h"
#include "engine/progress.h"

namespace diverge::data {

namespace {

constexpr std::string_view kWhere = "tokenizer training";

// cl100k_base's pattern as Hugging Face tokenizer.json files write it: tiktoken's possessive quantifiers dropped
// (they change no match here) and its case-insensitive contractions in the one spelling transformers.js rewrites.
constexpr std::string_view kCl100kPortablePattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

using PairKey = std::uint64_t;  // left id in the high half, right id in the low half: orders like (left, right)

PairKey pair_key(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}
std::int32_t left_of(PairKey key) { return static_cast<std::int32_t>(key >> 32); }
std::int32_t right_of(PairKey key) { return static_cast<std::int32_t>(key & 0xffffffffu); }

struct PairStats {
  std::int64_t count = 0;           // occurrences, weighted by the count of each word
  std::vector<std::uint32_t> words;  // words that held the pair at some point (may repeat, may be stale)
};

struct HeapEntry {
  std::int64_t count;
  PairKey key;
  // priority_queue pops the largest: the higher count, then the smaller pair.
  bool operator<(const HeapEntry& other) const {
    return count != other.count ? count < other.count : key > other.key;
  }
};

class MergeLearner {
 public:
  explicit MergeLearner(std::vector<PieceCount>& pieces) {
    words_.reserve(pieces.size());
    word_counts_.reserve(pieces.size());
    for (const auto& piece : pieces) {
      std::vector<std::int32_t> word(piece.bytes.size());
      std::transform(piece.bytes.begin(), piece.bytes.end(), word.begin(),
                     [](char c) { return static_cast<std::int32_t>(static_cast<unsigned char>(c)); });
      words_.push_back(std::move(word));
      word_counts_.push_back(static_cast<std::int64_t>(piece.count));
    }
    for (int b = 0; b < 256; ++b) add_token(std::string(1, static_cast<char>(b)));
    count_initial_pairs();
  }

  // Merges until there are `target` tokens; false when no pair is left that occurs min_frequency times.
  bool learn(std::size_t target, std::uint64_t min_frequency, Progress* progress) {
    while (tokens_.size() < target) {
      auto best = pop_best();
      if (!best || best->count < static_cast<std::int64_t>(min_frequency)) return false;
      apply_merge(best->key, add_token(tokens_[static_cast<std::size_t>(left_of(best->key))] +
                                       tokens_[static_cast<std::size_t>(right_of(best->key))]));
      if (progress != nullptr) progress->advance(1);
    }
    return true;
  }

  std::vector<std::string>& tokens() { return tokens_; }
  std::vector<std::pair<std::int32_t, std::int32_t>>& merges() { return merges_; }
  std::vector<std::vector<std::int32_t>>& words() { return words_; }

 private:
  std::int32_t add_token(std::string bytes) {
    tokens_.push_back(std::move(bytes));
    return static_cast<std::int32_t>(tokens_.size() - 1);
  }

  void count_initial_pairs() {
    for (std::uint32_t w = 0; w < words_.size(); ++w) {
      const auto& word = words_[w];
      for (std::size_t i = 0; i + 1 < word.size(); ++i) add(pair_key(word[i], word[i + 1]), word_counts_[w], w);
    }
    std::vector<HeapEntry> entries;
    entries.reserve(pairs_.size());
    for (const auto& [key, stats] : pairs_) entries.push_back({stats.count, key});
    heap_ = std::priority_queue<HeapEntry>(std::less<HeapEntry>(), std::move(entries));
    touched_.clear();
  }

  // Adds delta to a pair's count; a word that gains the pair is recorded as holding it.
  void add(PairKey key, std::int64_t delta, std::uint32_t word) {
    PairStats& stats = pairs_[key];
    stats.count += delta;
    if (delta > 0) {
      if (stats.words.empty() || stats.words.back() != word) stats.words.push_back(word);
      touched_.push_back(key);
    }
  }

  // The pair with the highest current count. Heap entries are lazy: counts only fall after a pair is pushed (new
  // pairs all contain the newest token), so an entry whose count is out of date is re-pushed with the true one.
  std::optional<HeapEntry> pop_best() {
    while (!heap_.empty()) {
      HeapEntry top = heap_.top();
      heap_.pop();
      auto it = pairs_.find(top.key);
      std::int64_t current = it == pairs_.end() ? 0 : it->second.count;
      if (current == top.count) return top;
      if (current > 0) heap_.push({current, top.key});
    }
    return std::nullopt;
  }

  void apply_merge(PairKey key, std::int32_t merged) {
    merges_.emplace_back(left_of(key), right_of(key));
    std::vector<std::uint32_t> holders = std::move(pairs_[key].words);
    std::sort(holders.begin(), holders.end());
    holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
    touched_.clear();
    for (std::uint32_t w : holders) merge_word(w, left_of(key), right_of(key), merged);
    pairs_.erase(key);
    std::sort(touched_.begin(), touched_.end());
    touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
    for (PairKey k : touched_) {
      std::int64_t count = pairs_[k].count;
      if (count > 0) heap_.push({count, k});
    }
  }

  // Replaces each (left, right) in the word, left to right without overlap, by merged, and moves the counts of the
  // neighbouring pairs: (prev, left) becomes (prev, merged) and (right, next) becomes (merged, next). When two merges
  // are adjacent, the (merged, left) that the first adds the second takes away again.
  void merge_word(std::uint32_t w, std::int32_t left, std::int32_t right, std::int32_t merged) {
    const std::vector<std::int32_t>& word = words_[w];
    const std::int64_t n = word_counts_[w];
    scratch_.clear();
    for (std::size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == left && word[i + 1] == right) {
        if (!scratch_.empty()) {
          add(pair_key(scratch_.back(), left), -n, w);
          add(pair_key(scratch_.back(), merged), n, w);
        }
        add(pair_key(left, right), -n, w);
        if (i + 2 < word.size()) {
          add(pair_key(right, word[i + 2]), -n, w);
          add(pair_key(merged, word[i + 2]), n, w);
        }
        scratch_.push_back(merged);
        i += 2;
      } else {
        scratch_.push_back(word[i]);
        i += 1;
      }
    }
    words_[w].swap(scratch_);
  }

  std::vector<std::vector<std::int32_t>> words_;  // (distinct pieces) current token ids of each piece
  std::vector<std::int64_t> word_counts_;         // (distinct pieces)
  std::unordered_map<PairKey, PairStats> pairs_;
  std::priority_queue<HeapEntry> heap_;
  std::vector<std::string> tokens_;
  std::vector<std::pair<std::int32_t, std::int32_t>> merges_;
  std::vector<PairKey> touched_;           // pairs that gained occurrences in the current merge
  std::vector<std::int32_t> scratch_;
};

void check_vocab_size(std::size_t vocab_size) {
  check(vocab_size >= 257, "--vocab-size",
        "must be at least 257 (256 byte tokens and " + std::string(kEndOfText) + "), got " +
            std::to_string(vocab_size));
  check(vocab_size <= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()), "--vocab-size",
        "must fit token ids in 32 bits, got " + std::to_string(vocab_size));
}

}  // namespace

std::string resolve_pattern(std::string_view name_or_regex) {
  if (name_or_regex == "gpt2") return std::string(kGpt2Pattern);
  if (name_or_regex == "cl100k") return std::string(kCl100kPortablePattern);
  return std::string(name_or_regex);
}

TrainedBpe learn_bpe(std::vector<PieceCount> pieces, std::size_t vocab_size, std::uint64_t min_frequency,
                     bool show_progress) {
  check_vocab_size(vocab_size);
  check(min_frequency >= 1, "--min-frequency", "must be at least 1");
  check(!pieces.empty(), kWhere, "the inputs hold no text");

  const std::size_t target = vocab_size - 1;  // the last id is <|endoftext|>
  Progress progress("merging:", target - 256, "merges");
  MergeLearner learner(pieces);
  if (!learner.learn(target, min_frequency, show_progress ? &progress : nullptr)) {
    const std::size_t reached = learner.tokens().size() + 1;
    throw Error(kWhere, "no pair is left that occurs at least " + std::to_string(min_frequency) +
                            " times after " + std::to_string(learner.merges().size()) +
                            " merges, so the vocabulary stops at " + std::to_string(reached) +
                            " tokens; use --vocab-size " + std::to_string(reached) +
                            " or less, a lower --min-frequency, or more text");
  }
  if (show_progress) progress.finish();

  TrainedBpe bpe;
  bpe.tokens = std::move(learner.tokens());
  bpe.merges = std::move(learner.merges());
  bpe.end_of_text_id = static_cast<std::int32_t>(target);
  bpe.pieces.reserve(pieces.size());
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    bpe.pieces.push_back({std::move(pieces[i].bytes), pieces[i].count, std::move(learner.words()[i])});
  }
  return bpe;
}

TrainedBpe train_bpe(const TrainerOptions& options) {
  check_vocab_size(options.vocab_size);
  check(!options.inputs.empty(), "--input", "no input files given");
  const Regex regex(options.pattern, false, "--pattern");
  CorpusCounts counts = count_pieces(options.inputs, regex, options.counting);
  TrainedBpe bpe = learn_bpe(std::move(counts.pieces), options.vocab_size, options.min_frequency,
                             options.counting.show_progress);
  bpe.pattern = options.pattern;
  bpe.documents = counts.documents;
  bpe.total_pieces = counts.total_pieces;
  bpe.input_bytes = counts.bytes;
  return bpe;
}

}  // namespace diverge::data
