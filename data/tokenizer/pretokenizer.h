// The pre-tokenizer: a chain of regex splits (and ByteLevel's optional prefix space) cutting text into pieces.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/tokenizer/regex.h"

namespace diverge::data {

// One step as the loaders describe it. tiktoken and GPT-2 have one step (their pattern); Hugging Face files have
// one per Split plus the ByteLevel step (its regex only with use_regex).
struct PreTokenizerStep {
  std::string pattern;  // empty: this step does not split
  bool literal = false;  // pattern is an exact string, not a regex (HF Split {"String": ...})
  bool prefix_space = false;  // prepend " " to each piece that does not start with one (ByteLevel add_prefix_space)
};

class PreTokenizer {
 public:
  PreTokenizer() = default;
  // Compiles every step's pattern; a bad one throws Error(where, ...).
  PreTokenizer(const std::vector<PreTokenizerStep>& steps, std::string_view where);

  // Calls piece(std::string_view) for each non-empty final piece of text, in order.
  template <class OnPiece>
  void for_each_piece(std::string_view text, RegexScratch& scratch, OnPiece&& piece) const {
    apply(0, text, scratch, piece);
  }

  // True when some step inserts bytes (a prefix space), so pieces need not concatenate back to the input.
  bool adds_bytes() const;

 private:
  struct Step {
    std::optional<Regex> regex;
    bool prefix_space = false;
  };

  template <class OnPiece>
  void apply(std::size_t index, std::string_view text, RegexScratch& scratch, OnPiece& piece) const {
    if (text.empty()) return;
    if (index == steps_.size()) {
      piece(text);
      return;
    }
    const Step& step = steps_[index];
    if (step.prefix_space && text.front() != ' ') {
      std::string spaced = " " + std::string(text);
      split(index, spaced, scratch, piece);
    } else {
      split(index, text, scratch, piece);
    }
  }

  template <class OnPiece>
  void split(std::size_t index, std::string_view text, RegexScratch& scratch, OnPiece& piece) const {
    const Step& step = steps_[index];
    if (!step.regex) {
      apply(index + 1, text, scratch, piece);
      return;
    }
    split_isolated(*step.regex, text, scratch,
                   [&](std::string_view part) { apply(index + 1, part, scratch, piece); });
  }

  std::vector<Step> steps_;
};

}  // namespace diverge::data
