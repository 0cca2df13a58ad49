// Loader for Hugging Face tokenizer.json files that hold a byte-level BPE model (GPT-2, Qwen, Llama-3 style).
#include <algorithm>
#include <filesystem>
#include <string>

#include "data/tokenizer/byte_level.h"
#include "data/tokenizer/hugging_face_json.h"
#include "data/tokenizer/json_text.h"
#include "data/tokenizer/presets.h"
#include "data/tokenizer/tokenizer_spec.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/json/json_quote.h"
#include "engine/json/json_reader.h"
#include "engine/hash.h"

namespace diverge::data {

namespace {

using nlohmann::json;

// The member key of object, or nullptr when it is absent or null (HF writes null for "none").
const json* member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& required_object(const json& parent, const char* key, const std::string& path, const std::string& where) {
  const json* value = member(parent, key);
  check(value != nullptr, where, path + ": missing");
  check(value->is_object(), where, path + ": expected an object, found " + json_kind(*value));
  return *value;
}

std::string string_field(const json& object, const char* key, const std::string& path, const std::string& where) {
  const json* value = member(object, key);
  check(value != nullptr && value->is_string(), where, path + "." + key + ": expected a string");
  return value->get<std::string>();
}

bool bool_field(const json& object, const char* key, bool fallback, const std::string& path, const std::string& where) {
  const json* value = member(object, key);
  if (value == nullptr) return fallback;
  check(value->is_boolean(), where, path + "." + key + ": expected true or false, found " + json_kind(*value));
  return value->get<bool>();
}

std::string element_path(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

void reject_unsupported(bool unsupported, const std::string& where, const std::string& key, const std::string& why) {
  check(!unsupported, where, key + ": " + why);
}

void read_vocab(const HuggingFaceJson& file, const std::string& where, BpeVocab& vocab) {
  for (const auto& entry : file.vocab) {
    const std::string& token = entry.first;  // a reference, not a binding: the lambda below captures it
    const std::int64_t value = entry.second;
    // Messages are built only on failure: this loop runs 150k times for a large vocabulary.
    auto fail = [&](const std::string& what) {
      throw Error(where, "model.vocab['" + brief_text(token) + "']: " + what);
    };
    if (value < 0 || value > kMaxTokenId) fail("id is not an integer in 0.." + std::to_string(kMaxTokenId));
    auto id = static_cast<std::int32_t>(value);
    auto bytes = byte_level_to_bytes(token);
    if (!bytes) fail("token is not written in the byte-level alphabet");
    if (vocab.tokens().has(id))
      fail(vocab.tokens().bytes(id) == *bytes ? "duplicate key" : "id " + std::to_string(id) + " is used twice");
    vocab.add_mergeable(id, *bytes);
  }
}

void read_merges(const HuggingFaceJson& file, const std::string& where, BpeVocab& vocab) {
  std::string merged;
  for (std::size_t i = 0; i < file.merges.size(); ++i) {
    const auto& [left, right] = file.merges[i];
    auto fail = [&](const std::string& what) { throw Error(where, element_path("model.merges", i) + ": " + what); };
    auto token = [&](std::string_view symbol) {
      auto bytes = byte_level_to_bytes(symbol);
      std::optional<std::int32_t> id = bytes ? vocab.find(*bytes) : std::nullopt;
      if (!id) fail("names unknown token '" + brief_text(symbol) + "'");
      return *id;
    };
    merged.assign(left).append(right);
    std::int32_t left_id = token(left);
    std::int32_t right_id = token(right);
    vocab.add_merge(left_id, right_id, token(merged), static_cast<std::uint32_t>(i));
  }
}

// model.vocab and model.merges are streamed out of the tree when they have the right type; when they were not, this
// says whether they are absent or what stands there instead.
[[noreturn]] void section_missing(const json& model, const char* key, const std::string& expected,
                                  const std::string& where) {
  std::string path = std::string("model.") + key;
  const json* value = member(model, key);
  check(value != nullptr, where, path + ": missing");
  throw Error(where, path + ": expected " + expected + ", found " + json_kind(*value));
}

// Reads model (type BPE over the byte-level alphabet) into vocab.
void read_model(const HuggingFaceJson& file, const std::string& where, BpeVocab& vocab) {
  const json& root = file.rest;
  const json& model = required_object(root, "model", "model", where);
  if (const json* type = member(model, "type")) {
    check(type->is_string() && type->get<std::string>() == "BPE", where,
          "model.type: '" + (type->is_string() ? brief_text(type->get<std::string>()) : json_kind(*type)) +
              "' is not supported (only BPE)");
  }
  reject_unsupported(bool_field(model, "byte_fallback", false, "model", where), where, "model.byte_fallback",
                     "true is not supported (byte-level BPE never needs a fallback)");
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json* value = member(model, affix);
    reject_unsupported(value != nullptr && !(value->is_string() && value->get<std::string>().empty()), where,
                       std::string("model.") + affix, "only empty or null is supported");
  }
  const json* dropout = member(model, "dropout");
  reject_unsupported(dropout != nullptr && !(dropout->is_number() && dropout->get<double>() == 0.0), where,
                     "model.dropout", "only null or 0 is supported (dropout makes encoding random)");
  if (!file.has_vocab) section_missing(model, "vocab", "an object", where);
  read_vocab(file, where, vocab);
  // The stream keeps model.vocab's keys out of the reader's duplicate check, so two equal keys meet here.
  if (auto duplicate = vocab.index()) {
    throw Error(where, "model.vocab['" + brief_text(bytes_to_byte_level(vocab.tokens().bytes(duplicate->first))) +
                           "']: duplicate key (ids " + std::to_string(duplicate->first) + " and " +
                           std::to_string(duplicate->second) + ")");
  }
  if (auto byte = vocab.missing_byte()) {
    throw Error(where, "model.vocab: no token for byte " + std::to_string(*byte) + ": byte-level BPE needs all 256");
  }
  if (!file.has_merges) section_missing(model, "merges", "an array", where);
  read_merges(file, where, vocab);
  vocab.finish(bool_field(model, "ignore_merges", false, "model", where));
}

// True when the normalizer applies NFC; null, NFC and Sequences of those are supported.
bool read_normalizer(const json& normalizer, const std::string& path, const std::string& where) {
  check(normalizer.is_object(), where, path + ": expected an object, found " + json_kind(normalizer));
  std::string type = string_field(normalizer, "type", path, where);
  if (type == "NFC") return true;
  check(type == "Sequence", where,
        path + ".type: '" + brief_text(type) + "' is not supported (supported: NFC, Sequence)");
  const json* steps = member(normalizer, "normalizers");
  check(steps != nullptr && steps->is_array(), where, path + ".normalizers: expected an array");
  bool nfc = false;
  for (std::size_t i = 0; i < steps->size(); ++i) {
    nfc = read_normalizer((*steps)[i], element_path(path + ".normalizers", i), where) || nfc;
  }
  return nfc;
}

PreTokenizerStep read_split(const json& split, const std::string& path, const std::string& where) {
  const json& pattern = required_object(split, "pattern", path + ".pattern", where);
  PreTokenizerStep step;
  if (const json* regex = member(pattern, "Regex"); regex != nullptr && regex->is_string()) {
    step.pattern = regex->get<std::string>();
  } else if (const json* literal = member(pattern, "String"); literal != nullptr && literal->is_string()) {
    step.pattern = literal->get<std::string>();
    step.literal = true;
  } else {
    throw Error(where, path + ".pattern: expected {\"Regex\": \"...\"} or {\"String\": \"...\"}");
  }
  check(!step.pattern.empty(), where, path + ".pattern: empty");
  std::string behavior = string_field(split, "behavior", path, where);
  reject_unsupported(behavior != "Isolated", where, path + ".behavior",
                     "'" + brief_text(behavior) + "' is not supported (only Isolated)");
  reject_unsupported(bool_field(split, "invert", false, path, where), where, path + ".invert",
                     "true is not supported");
  return step;
}

PreTokenizerStep read_byte_level(const json& byte_level, const std::string& path, const std::string& where) {
  PreTokenizerStep step;
  if (bool_field(byte_level, "use_regex", true, path, where)) step.pattern = std::string(kGpt2Pattern);
  step.prefix_space = bool_field(byte_level, "add_prefix_space", true, path, where);
  return step;
}

// Appends the steps of pre_tokenizer (Split, ByteLevel, or a Sequence of those) to steps.
void read_pre_tokenizer(const json& pre_tokenizer, const std::string& path, const std::string& where,
                        std::vector<PreTokenizerStep>& steps, bool& byte_level_seen) {
  check(pre_tokenizer.is_object(), where, path + ": expected an object, found " + json_kind(pre_tokenizer));
  std::string type = string_field(pre_tokenizer, "type", path, where);
  // ByteLevel rewrites text into its alphabet, so a Split after it would match different characters.
  check(!byte_level_seen, where, path + ": steps after ByteLevel are not supported");
  if (type == "Sequence") {
    const json* list = member(pre_tokenizer, "pretokenizers");
    check(list != nullptr && list->is_array(), where, path + ".pretokenizers: expected an array");
    for (std::size_t i = 0; i < list->size(); ++i) {
      read_pre_tokenizer((*list)[i], element_path(path + ".pretokenizers", i), where, steps, byte_level_seen);
    }
  } else if (type == "Split") {
    steps.push_back(read_split(pre_tokenizer, path, where));
  } else if (type == "ByteLevel") {
    steps.push_back(read_byte_level(pre_tokenizer, path, where));
    byte_level_seen = true;
  } else {
    throw Error(where,
                path + ".type: '" + brief_text(type) + "' is not supported (supported: Split, ByteLevel, Sequence)");
  }
}

std::vector<PreTokenizerStep> read_pre_tokenizers(const json& root, const std::string& where) {
  const json* pre_tokenizer = member(root, "pre_tokenizer");
  check(pre_tokenizer != nullptr, where, "pre_tokenizer: missing (byte-level BPE needs a ByteLevel pre-tokenizer)");
  std::vector<PreTokenizerStep> steps;
  bool byte_level_seen = false;
  read_pre_tokenizer(*pre_tokenizer, "pre_tokenizer", where, steps, byte_level_seen);
  check(byte_level_seen, where, "pre_tokenizer: no ByteLevel step (only byte-level BPE is supported)");
  return steps;
}

void check_decoder(const json& root, const std::string& where) {
  const json* decoder = member(root, "decoder");
  check(decoder != nullptr && decoder->is_object(), where, "decoder: missing (expected ByteLevel)");
  std::string type = string_field(*decoder, "type", "decoder", where);
  check(type == "ByteLevel", where, "decoder.type: '" + brief_text(type) + "' is not supported (only ByteLevel)");
}

void read_added_tokens(const json& root, TokenizerSpec& spec) {
  const json* list = member(root, "added_tokens");
  if (list == nullptr) return;
  const std::string& where = spec.source;
  check(list->is_array(), where, "added_tokens: expected an array, found " + json_kind(*list));
  for (std::size_t i = 0; i < list->size(); ++i) {
    std::string path = element_path("added_tokens", i);
    const json& entry = (*list)[i];
    check(entry.is_object(), where, path + ": expected an object, found " + json_kind(entry));
    const json* id = member(entry, "id");
    check(id != nullptr && id->is_number_integer(), where, path + ".id: expected an integer");
    // These options change what text a token absorbs; this loader does not reproduce them, so it refuses them.
    for (const char* option : {"lstrip", "rstrip", "single_word"}) {
      reject_unsupported(bool_field(entry, option, false, path, where), where, path + "." + option,
                         "true is not supported");
    }
    add_added_token(spec, AddedToken{string_field(entry, "content", path, where),
                                     static_cast<std::int32_t>(std::clamp<std::int64_t>(id->get<std::int64_t>(), -1,
                                                                                        kMaxTokenId + 1)),
                                     bool_field(entry, "special", false, path, where)});
  }
}

// Sets the end-of-document token: <|endoftext|> when the file has it, else the eos_token of tokenizer_config.json
// beside the file (when there is one). A config that decides it joins the content hash, since it changes the ids.
void set_end_of_document_token(TokenizerSpec& spec, const std::filesystem::path& path, const std::string& text) {
  for (const auto& token : spec.added) {
    if (token.content == spec.eod_token) return;
  }
  auto config_path = path.parent_path() / "tokenizer_config.json";
  if (!std::filesystem::exists(config_path)) return;
  std::string config_text = read_file(config_path);
  json config = parse_json(config_text, config_path.string());
  const json* eos = config.is_object() ? member(config, "eos_token") : nullptr;
  if (eos != nullptr && eos->is_object()) eos = member(*eos, "content");
  if (eos == nullptr) return;
  check(eos->is_string(), config_path.string(), "eos_token: expected a string or {\"content\": ...}");
  spec.eod_token = eos->get<std::string>();
  ContentHasher hasher;
  hasher.update(text.data(), text.size());
  hasher.update(config_text.data(), config_text.size());
  spec.content_hash = hasher.finish();
}

std::string tokenizer_name(const std::filesystem::path& path) {
  std::string stem = path.stem().string();
  std::string directory = path.parent_path().filename().string();
  return stem == "tokenizer" && !directory.empty() ? directory : stem;
}

}  // namespace

TokenizerSpec load_hugging_face(const std::filesystem::path& path, const std::string& text) {
  TokenizerSpec spec;
  spec.source = path.string();
  spec.name = tokenizer_name(path);
  spec.content_hash = content_hash(text);
  HuggingFaceJson file = read_hugging_face_json(text, spec.source);
  const json& root = file.rest;
  check(root.is_object() && root.contains("model"), spec.source,
        "not a Hugging Face tokenizer.json (expected an object with a \"model\" key)");
  read_model(file, spec.source, spec.vocab);
  const json* normalizer = member(root, "normalizer");
  spec.nfc = normalizer != nullptr && read_normalizer(*normalizer, "normalizer", spec.source);
  spec.pre_tokenizer = read_pre_tokenizers(root, spec.source);
  check_decoder(root, spec.source);
  read_added_tokens(root, spec);
  set_end_of_document_token(spec, path, text);
  return spec;
}

}  // namespace diverge::data
