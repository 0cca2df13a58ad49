// The Tokenizer: format detection, the encode pipeline (added tokens -> NFC -> pre-tokenizer -> BPE) and decode.
#include "data/tokenizer/tokenizer.h"

#include <atomic>
#include <unordered_map>

#include "data/tokenizer/encode_scratch.h"
#include "data/tokenizer/nfc.h"
#include "data/tokenizer/tokenizer_spec.h"
#include "engine/error.h"
#include "engine/files.h"

namespace diverge::data {

namespace fs = std::filesystem;

struct Tokenizer::Model {
  std::uint64_t id;  // unique per loaded model: keys the per-thread piece caches
  std::string name;
  std::string content_hash;
  BpeVocab vocab;
  PreTokenizer pre_tokenizer;
  bool nfc;
  AddedTokenMatcher all_added;       // special and non-special: encode_with_special
  AddedTokenMatcher ordinary_added;  // non-special only (Hugging Face's plain added tokens): encode
  std::unordered_map<std::string, std::int32_t> added_ids;
  std::optional<std::int32_t> eod;
  std::string eod_token;
  std::string source;

  explicit Model(TokenizerSpec spec);

  // Encoding of one stretch of text between added tokens: NFC, pre-tokenizer, BPE.
  void encode_stretch(std::string_view text, std::vector<std::int32_t>& out) const;
  // The whole pipeline: added tokens found by matcher become their ids, the stretches between are encoded.
  void encode(std::string_view text, const AddedTokenMatcher& matcher, std::vector<std::int32_t>& out) const;
};

namespace {

std::uint64_t next_model_id() {
  static std::atomic<std::uint64_t> counter{0};
  return ++counter;
}

std::vector<AddedToken> non_special(const std::vector<AddedToken>& added) {
  std::vector<AddedToken> plain;
  for (const auto& token : added) {
    if (!token.special) plain.push_back(token);
  }
  return plain;
}

// Calls on_stretch(text) for the text between added tokens and on_token(id, content) for each token matcher finds.
template <class OnStretch, class OnToken>
void for_each_segment(std::string_view text, const AddedTokenMatcher& matcher, OnStretch&& on_stretch,
                      OnToken&& on_token) {
  std::size_t done = 0;
  while (auto match = matcher.find(text, done)) {
    if (match->begin > done) on_stretch(text.substr(done, match->begin - done));
    on_token(match->id, text.substr(match->begin, match->end - match->begin));
    done = match->end;
  }
  if (done < text.size()) on_stretch(text.substr(done));
}

std::unordered_map<std::string, std::int32_t> added_token_ids(const std::vector<AddedToken>& added) {
  std::unordered_map<std::string, std::int32_t> ids;
  for (const auto& token : added) ids.emplace(token.content, token.id);
  return ids;
}

// GPT-2's encoder.json (which needs vocab.bpe beside it), or else a Hugging Face tokenizer.json.
TokenizerSpec load_json_file(const fs::path& path) {
  if (path.filename() == "encoder.json") {
    auto merges = path.parent_path() / "vocab.bpe";
    check(fs::exists(merges), path.string(), "GPT-2 encoder.json needs its merges file vocab.bpe beside it");
    return load_gpt2(path, merges);
  }
  return load_hugging_face(path, read_file(path));
}

TokenizerSpec load_directory(const fs::path& path) {
  if (fs::exists(path / "tokenizer.json")) return load_json_file(path / "tokenizer.json");
  if (fs::exists(path / "encoder.json")) return load_json_file(path / "encoder.json");
  throw Error(path.string(), "directory holds neither tokenizer.json nor encoder.json + vocab.bpe");
}

TokenizerSpec load_spec(const fs::path& path) {
  check(fs::exists(path), path.string(), "no such file");
  if (fs::is_directory(path)) return load_directory(path);
  if (path.extension() == ".tiktoken") return load_tiktoken(path);
  if (path.filename() == "vocab.bpe") return load_json_file(path.parent_path() / "encoder.json");
  if (path.extension() == ".json") return load_json_file(path);
  throw Error(path.string(),
              "unknown tokenizer format: expected *.tiktoken, encoder.json (+ vocab.bpe), tokenizer.json or a "
              "directory holding one of them");
}

}  // namespace

Tokenizer::Model::Model(TokenizerSpec spec)
    : id(next_model_id()),
      name(std::move(spec.name)),
      content_hash(std::move(spec.content_hash)),
      vocab(std::move(spec.vocab)),
      pre_tokenizer(spec.pre_tokenizer, spec.source),
      nfc(spec.nfc),
      all_added(spec.added),
      ordinary_added(non_special(spec.added)),
      added_ids(added_token_ids(spec.added)),
      eod_token(spec.eod_token),
      source(std::move(spec.source)) {
  if (auto it = added_ids.find(eod_token); it != added_ids.end()) {
    eod = it->second;
  } else {
    eod = vocab.find(eod_token);
  }
}

void Tokenizer::Model::encode(std::string_view text, const AddedTokenMatcher& matcher,
                              std::vector<std::int32_t>& out) const {
  if (matcher.empty()) {
    encode_stretch(text, out);
    return;
  }
  for_each_segment(
      text, matcher, [&](std::string_view stretch) { encode_stretch(stretch, out); },
      [&](std::int32_t token, std::string_view) { out.push_back(token); });
}

void Tokenizer::Model::encode_stretch(std::string_view text, std::vector<std::int32_t>& out) const {
  EncodeScratch& scratch = thread_encode_scratch();
  PieceCache& cache = scratch.cache_for(id);
  if (nfc && nfc_may_change(text)) {
    scratch.normalized.clear();
    append_nfc(text, scratch.normalized);
    text = scratch.normalized;
  }
  pre_tokenizer.for_each_piece(text, scratch.regex,
                               [&](std::string_view piece) { vocab.encode_piece(piece, scratch.bpe, cache, out); });
}

Tokenizer::Tokenizer(std::shared_ptr<const Model> model) : model_(std::move(model)) {}

Tokenizer Tokenizer::load(const fs::path& path) { return Tokenizer(std::make_shared<const Model>(load_spec(path))); }

std::vector<std::int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 3 + 1);
  encode_append(text, out);
  return out;
}

std::vector<std::int32_t> Tokenizer::encode_with_special(std::string_view text) const {
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 3 + 1);
  encode_with_special_append(text, out);
  return out;
}

void Tokenizer::encode_append(std::string_view text, std::vector<std::int32_t>& out) const {
  model_->encode(text, model_->ordinary_added, out);
}

void Tokenizer::encode_with_special_append(std::string_view text, std::vector<std::int32_t>& out) const {
  model_->encode(text, model_->all_added, out);
}

std::string_view Tokenizer::token_bytes(std::int32_t id) const {
  const TokenStore& tokens = model_->vocab.tokens();
  if (!tokens.has(id)) {
    throw Error(model_->name, "token id " + std::to_string(id) +
                                  (id >= 0 && static_cast<std::uint32_t>(id) < tokens.id_limit()
                                       ? " has no token (a gap in the vocabulary)"
                                       : " is out of range (vocabulary size " + std::to_string(tokens.id_limit()) + ")"));
  }
  return tokens.bytes(id);
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids) const {
  std::string text;
  text.reserve(ids.size() * 4);
  for (std::int32_t id : ids) text.append(token_bytes(id));
  return text;
}

std::uint32_t Tokenizer::vocab_size() const { return model_->vocab.tokens().id_limit(); }

std::optional<std::int32_t> Tokenizer::token_id(std::string_view special_or_added) const {
  auto it = model_->added_ids.find(std::string(special_or_added));
  if (it == model_->added_ids.end()) return std::nullopt;
  return it->second;
}

std::int32_t Tokenizer::eod_id() const {
  check(model_->eod.has_value(), model_->source,
        "no end-of-document token: neither " + model_->eod_token + " nor a configured eos_token is in the vocabulary");
  return *model_->eod;
}

const std::string& Tokenizer::name() const { return model_->name; }
const std::string& Tokenizer::content_hash() const { return model_->content_hash; }
std::size_t Tokenizer::merge_count() const { return model_->vocab.merge_count(); }

bool Tokenizer::normalizes() const { return model_->nfc || model_->pre_tokenizer.adds_bytes(); }

std::string Tokenizer::normalize(std::string_view text) const {
  if (!normalizes()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  auto append_stretch = [&](std::string_view stretch) {
    std::string normalized;
    if (model_->nfc) {
      append_nfc(stretch, normalized);
      stretch = normalized;
    }
    model_->pre_tokenizer.for_each_piece(stretch, thread_encode_scratch().regex,
                                         [&](std::string_view piece) { out.append(piece); });
  };
  for_each_segment(text, model_->ordinary_added, append_stretch,
                   [&](std::int32_t, std::string_view content) { out.append(content); });
  return out;
}

}  // namespace diverge::data
