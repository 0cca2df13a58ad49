// Error reporting: one exception type whose message always names where the problem is and what it is.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace diverge {

// Every user-facing failure (bad config, shard, tokenizer file, checkpoint, flag) is an Error. Its message is one
// line of the form "<where>: <what>", e.g. "corpus/manifest.json: shards[3].labels: unknown label system 'topic'".
class Error : public std::runtime_error {
 public:
  Error(std::string_view where, std::string_view what)
      : std::runtime_error(std::string(where) + ": " + std::string(what)) {}
  explicit Error(std::string_view what) : std::runtime_error(std::string(what)) {}
};

// Throws Error(where, what) when cond is false; keeps validation code to one readable line per rule.
inline void check(bool cond, std::string_view where, std::string_view what) {
  if (!cond) throw Error(where, what);
}

}  // namespace diverge
