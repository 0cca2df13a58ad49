// Finding special and added tokens (e.g. "<|endoftext|>") in raw text: leftmost occurrence, longest on ties.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace diverge::data {

struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool special = true;  // false for Hugging Face's non-special added tokens; both are matched alike
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

  struct Match {
    std::size_t begin;
    std::size_t end;
    std::int32_t id;
  };
  // The leftmost occurrence at or after `from` of any token, the longest one where several start there.
  std::optional<Match> find(std::string_view text, std::size_t from) const;
  bool empty() const { return tokens_.empty(); }

 private:
  std::vector<AddedToken> tokens_;                        // longest first, so the first hit at a position wins
  std::array<std::vector<std::uint32_t>, 256> by_first_;  // indices into tokens_ by first byte
  std::string first_bytes_;                               // the distinct first bytes, for the scan
};

}  // namespace diverge::data
