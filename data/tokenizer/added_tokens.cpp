// Leftmost-longest matching of added tokens: a first-byte filter, then a comparison with each candidate.
#include "data/tokenizer/added_tokens.h"

#include <algorithm>
#include <cstring>

namespace diverge::data {

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) {
  for (const auto& token : tokens) {
    if (!token.content.empty()) tokens_.push_back(token);
  }
  std::stable_sort(tokens_.begin(), tokens_.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    auto first = static_cast<unsigned char>(tokens_[i].content[0]);
    if (by_first_[first].empty()) first_bytes_.push_back(static_cast<char>(first));
    by_first_[first].push_back(static_cast<std::uint32_t>(i));
  }
}

std::optional<AddedTokenMatcher::Match> AddedTokenMatcher::find(std::string_view text, std::size_t from) const {
  if (tokens_.empty()) return std::nullopt;
  for (std::size_t at = from; at < text.size(); ++at) {
    if (first_bytes_.size() == 1) {
      // The usual case (every token starts with '<'): let memchr skip ahead.
      const void* hit = std::memchr(text.data() + at, first_bytes_[0], text.size() - at);
      if (hit == nullptr) return std::nullopt;
      at = static_cast<std::size_t>(static_cast<const char*>(hit) - text.data());
    }
    for (std::uint32_t index : by_first_[static_cast<unsigned char>(text[at])]) {
      std::string_view content = tokens_[index].content;
      if (text.substr(at, content.size()) == content) return Match{at, at + content.size(), tokens_[index].id};
    }
  }
  return std::nullopt;
}

}  // namespace diverge::data
