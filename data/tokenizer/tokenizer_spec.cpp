// Registering added and special tokens, with the checks every format shares.
#include "data/tokenizer/tokenizer_spec.h"

#include "engine/error.h"
#include "engine/json/json_quote.h"

namespace diverge::data {

void add_added_token(TokenizerSpec& spec, AddedToken token) {
  const auto& store = spec.vocab.tokens();
  std::string what = "added token '" + brief_text(token.content) + "' (id " + std::to_string(token.id) + ")";
  check(token.id >= 0 && token.id <= kMaxTokenId, spec.source, what + ": id outside 0.." + std::to_string(kMaxTokenId));
  check(!token.content.empty(), spec.source, what + ": empty content");
  if (store.has(token.id)) {
    // A vocabulary may also list its special token (GPT-2's encoder.json does); that is the same token.
    check(store.bytes(token.id) == token.content, spec.source,
          what + ": id already belongs to token '" + brief_text(store.bytes(token.id)) + "'");
  } else {
    spec.vocab.add_unmergeable(token.id, token.content);
  }
  for (const auto& other : spec.added) {
    check(other.content != token.content, spec.source, what + ": listed twice");
    check(other.id != token.id, spec.source, what + ": id already belongs to '" + brief_text(other.content) + "'");
  }
  spec.added.push_back(std::move(token));
}

}  // namespace diverge::data
