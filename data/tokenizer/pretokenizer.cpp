// Compiling the pre-tokenizer's steps.
#include "data/tokenizer/pretokenizer.h"

namespace diverge::data {

PreTokenizer::PreTokenizer(const std::vector<PreTokenizerStep>& steps, std::string_view where) {
  for (const auto& step : steps) {
    Step compiled;
    if (!step.pattern.empty()) compiled.regex.emplace(step.pattern, step.literal, where);
    compiled.prefix_space = step.prefix_space;
    steps_.push_back(std::move(compiled));
  }
}

bool PreTokenizer::adds_bytes() const {
  for (const auto& step : steps_) {
    if (step.prefix_space) return true;
  }
  return false;
}

}  // namespace diverge::data
