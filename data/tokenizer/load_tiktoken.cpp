// Loader for tiktoken rank files: one "base64(token) rank" per line; pattern and specials come from the name.
#include <charconv>
#include <string>

#include "data/tokenizer/base64.h"
#include "data/tokenizer/presets.h"
#include "data/tokenizer/text_lines.h"
#include "data/tokenizer/tokenizer_spec.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/hash.h"
#include "engine/json/json_quote.h"

namespace diverge::data {

namespace {

// The rank, or -1 when text is not an integer in 0..kMaxTokenId.
std::int32_t parse_rank(std::string_view text) {
  std::int32_t rank = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), rank);
  if (ec != std::errc() || end != text.data() + text.size() || rank > kMaxTokenId) return -1;
  return rank;
}

void read_ranks(std::string_view text, const std::string& where, BpeVocab& vocab) {
  for_each_line(text, [&](std::string_view line, std::size_t line_number) {
    auto fail = [&](const std::string& what) {
      throw Error(where, "line " + std::to_string(line_number) + ": " + what);
    };
    std::size_t space = line.find(' ');
    if (space == std::string_view::npos) fail("expected 'base64 rank'");
    auto bytes = decode_base64(line.substr(0, space));
    if (!bytes) fail("bad base64 '" + brief_text(line.substr(0, space)) + "'");
    std::int32_t rank = parse_rank(line.substr(space + 1));
    if (rank < 0) {
      fail("rank '" + brief_text(line.substr(space + 1)) + "' is not an integer in 0.." + std::to_string(kMaxTokenId));
    }
    if (vocab.tokens().has(rank)) fail("duplicate rank " + std::to_string(rank));
    vocab.add_mergeable(rank, *bytes);
  });
}

}  // namespace

TokenizerSpec load_tiktoken(const std::filesystem::path& path) {
  TokenizerSpec spec;
  spec.source = path.string();
  spec.name = path.stem().string();
  const TiktokenPreset* preset = find_tiktoken_preset(spec.name);
  check(preset != nullptr, spec.source,
        "unknown tiktoken encoding '" + spec.name + "': the file name must be one of " + known_tiktoken_presets() +
            " (it decides the pre-tokenizer pattern and special tokens, which rank files do not hold)");
  std::string text = read_file(path);
  spec.content_hash = content_hash(text);
  read_ranks(text, spec.source, spec.vocab);
  if (auto duplicate = spec.vocab.index()) {
    throw Error(spec.source, "ranks " + std::to_string(duplicate->first) + " and " +
                                 std::to_string(duplicate->second) + " hold the same token");
  }
  if (auto byte = spec.vocab.missing_byte()) {
    throw Error(spec.source, "no token for byte " + std::to_string(*byte) + ": byte-level BPE needs all 256");
  }
  spec.vocab.derive_merges_from_ranks();
  spec.vocab.finish(true);
  for (const auto& [content, id] : preset->specials) {
    add_added_token(spec, AddedToken{std::string(content), id, true});
  }
  spec.pre_tokenizer = {PreTokenizerStep{std::string(preset->pattern), false, false}};
  return spec;
}

}  // namespace diverge::data
