// Tests of the three vocabulary formats: one toy vocabulary written in each loads into the same model, and every
// kind of broken file is refused with a one-line error naming the file.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "data/tokenizer/byte_level.h"
#include "data/tokenizer/tokenizer.h"
#include "engine/error.h"
#include "engine/files.h"
#include "tests/support.h"

using namespace diverge;
using diverge::data::Tokenizer;
using diverge::test::ScratchDir;
using nlohmann::json;
using Ids = std::vector<std::int32_t>;

namespace {

std::string base64(std::string_view bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t group = 0;
    std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    for (std::size_t k = 0; k < 3; ++k) {
      group = (group << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    }
    for (std::size_t k = 0; k < 4; ++k) out.push_back(k <= n ? alphabet[(group >> (18 - 6 * k)) & 63] : '=');
  }
  return out;
}

// The toy vocabulary: every byte as itself (id = byte value), then ab = 256, bc = 257, abc = 258, built by the
// merges (a, b), (b, c), (ab, c) in that order; <|endoftext|> = 50256.
const std::vector<std::string> kToyTokens = {"ab", "bc", "abc"};
const std::vector<std::pair<std::string, std::string>> kToyMerges = {{"a", "b"}, {"b", "c"}, {"ab", "c"}};

std::string byte_string(int b) { return std::string(1, static_cast<char>(b)); }

std::string toy_tiktoken(int skip_byte = -1) {
  std::string text;
  for (int b = 0; b < 256; ++b) {
    if (b != skip_byte) text += base64(byte_string(b)) + " " + std::to_string(b) + "\n";
  }
  for (std::size_t i = 0; i < kToyTokens.size(); ++i) text += base64(kToyTokens[i]) + " " + std::to_string(256 + i) + "\n";
  return text;
}

json toy_vocab_json() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[data::bytes_to_byte_level(byte_string(b))] = b;
  for (std::size_t i = 0; i < kToyTokens.size(); ++i) vocab[kToyTokens[i]] = 256 + static_cast<int>(i);
  return vocab;
}

std::string toy_merges_text() {
  std::string text = "#version: 0.2\n";
  for (const auto& [left, right] : kToyMerges) text += left + " " + right + "\n";
  return text;
}

// A Hugging Face tokenizer.json for the toy vocabulary; split_then_byte_level picks the trainer's layout
// (Split regex + ByteLevel without regex) over a plain ByteLevel with its own regex.
json toy_hugging_face(bool split_then_byte_level, bool pair_merges) {
  json merges = json::array();
  for (const auto& [left, right] : kToyMerges) {
    merges.push_back(pair_merges ? json::array({left, right}) : json(left + " " + right));
  }
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                     {"use_regex", !split_then_byte_level}};
  json pre_tokenizer = byte_level;
  if (split_then_byte_level) {
    json split = {{"type", "Split"},
                  {"pattern", {{"Regex", R"('(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"}}},
                  {"behavior", "Isolated"},
                  {"invert", false}};
    pre_tokenizer = {{"type", "Sequence"}, {"pretokenizers", json::array({split, byte_level})}};
  }
  return {{"version", "1.0"},
          {"added_tokens", json::array({{{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true},
                                         {"lstrip", false}, {"rstrip", false}, {"single_word", false},
                                         {"normalized", false}}})},
          {"normalizer", nullptr},
          {"pre_tokenizer", pre_tokenizer},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", toy_vocab_json()}, {"merges", merges}}}};
}

void write_gpt2(const fs::path& dir, const std::string& merges) {
  fs::create_directories(dir);
  json encoder = toy_vocab_json();
  encoder["<|endoftext|>"] = 50256;
  write_file_atomic(dir / "encoder.json", encoder.dump());
  write_file_atomic(dir / "vocab.bpe", merges);
}

// The message of the Error that loading path throws ("" if it loads).
std::string load_error(const fs::path& path) {
  try {
    Tokenizer::load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Loading path fails with a one-line message naming the faulty file (path itself unless given) and containing
// `problem`.
void check_refused(const fs::path& path, const std::string& problem, const fs::path& faulty = {}) {
  std::string message = load_error(path);
  CAPTURE(message);
  CHECK(message.find((faulty.empty() ? path : faulty).string() + ": ") == 0);
  CHECK(message.find(problem) != std::string::npos);
  CHECK(message.find('\n') == std::string::npos);
}

void write_json(const fs::path& path, const json& value) { write_file_atomic(path, value.dump()); }

}  // namespace

TEST_CASE("the toy vocabulary gives the same ids from all formats, worked out by hand") {
  ScratchDir dir("tok-formats");
  write_file_atomic(dir / "r50k_base.tiktoken", toy_tiktoken());
  write_gpt2(dir / "gpt2", toy_merges_text());
  write_json(dir / "split.json", toy_hugging_face(true, false));
  write_json(dir / "bytelevel.json", toy_hugging_face(false, true));
  // abcabc: (a,b) twice -> [ab c ab c] -> (ab,c) twice -> [abc abc]; " bc" -> [" ", bc]; " ab" -> [" ", ab].
  const Ids expected = {258, 258, ' ', 257, ' ', 256};
  for (const auto& file : {dir / "r50k_base.tiktoken", dir / "gpt2" / "encoder.json", dir / "split.json",
                           dir / "bytelevel.json", dir / "gpt2"}) {
    CAPTURE(file);
    Tokenizer t = Tokenizer::load(file);
    CHECK(t.encode("abcabc bc ab") == expected);
    CHECK(t.encode("abc") == Ids{258});
    CHECK(t.encode("bcabc") == Ids{257, 258});
    CHECK(t.encode_with_special("c<|endoftext|>") == Ids{'c', 50256});
    CHECK(t.eod_id() == 50256);
    CHECK(t.vocab_size() == 50257);
    CHECK(t.decode(t.encode("x\xFF\xFE abc")) == "x\xFF\xFE abc");
    CHECK(!t.normalizes());
  }
  CHECK(Tokenizer::load(dir / "gpt2" / "vocab.bpe").name() == "gpt2");
  CHECK(Tokenizer::load(dir / "split.json").name() == "split");
}

TEST_CASE("the file's name picks the tiktoken preset, and the content hash follows the bytes") {
  ScratchDir dir("tok-presets");
  write_file_atomic(dir / "o200k_base.tiktoken", toy_tiktoken());
  write_file_atomic(dir / "cl100k_base.tiktoken", toy_tiktoken());
  Tokenizer o200k = Tokenizer::load(dir / "o200k_base.tiktoken");
  CHECK(o200k.eod_id() == 199999);
  CHECK(o200k.token_id("<|endofprompt|>") == 200018);
  Tokenizer cl100k = Tokenizer::load(dir / "cl100k_base.tiktoken");
  CHECK(cl100k.eod_id() == 100257);
  CHECK(cl100k.vocab_size() == 100277);
  CHECK(cl100k.content_hash() == o200k.content_hash());
  write_file_atomic(dir / "cl100k_base.tiktoken", toy_tiktoken() + "\n");
  CHECK(Tokenizer::load(dir / "cl100k_base.tiktoken").content_hash() != o200k.content_hash());
}

TEST_CASE("Hugging Face ByteLevel add_prefix_space adds a space that normalize() reports") {
  ScratchDir dir("tok-prefix");
  json config = toy_hugging_face(false, false);
  config["pre_tokenizer"]["add_prefix_space"] = true;
  write_json(dir / "tokenizer.json", config);
  Tokenizer t = Tokenizer::load(dir / "tokenizer.json");
  CHECK(t.normalizes());
  CHECK(t.encode("ab") == Ids{' ', 256});
  CHECK(t.normalize("ab") == " ab");
  CHECK(t.decode(t.encode("ab")) == " ab");
}

TEST_CASE("Split with a literal string, with a pattern that can match empty, and overlapping added tokens") {
  ScratchDir dir("tok-split");
  json config = toy_hugging_face(true, false);
  auto& split = config["pre_tokenizer"]["pretokenizers"][0];
  split["pattern"] = {{"String", " "}};
  write_json(dir / "literal.json", config);
  CHECK(Tokenizer::load(dir / "literal.json").encode("ab ab") == Ids{256, ' ', 256});
  split["pattern"] = {{"Regex", "x*"}};
  write_json(dir / "empty.json", config);
  CHECK(Tokenizer::load(dir / "empty.json").encode("abxxc") == Ids{256, 'x', 'x', 'c'});
  config = toy_hugging_face(true, false);
  config["added_tokens"].push_back({{"id", 50300}, {"content", "<x>"}, {"special", true}});
  config["added_tokens"].push_back({{"id", 50301}, {"content", "<x>y"}, {"special", true}});
  write_json(dir / "added.json", config);
  Tokenizer added = Tokenizer::load(dir / "added.json");
  CHECK(added.encode_with_special("a<x>yb<x>") == Ids{'a', 50301, 'b', 50300});
  CHECK(added.vocab_size() == 50302);
}

TEST_CASE("missing files, unknown formats and unknown tiktoken names are refused") {
  ScratchDir dir("tok-bad-format");
  check_refused(dir / "nope.tiktoken", "no such file");
  write_file_atomic(dir / "vocab.txt", "hello");
  check_refused(dir / "vocab.txt", "unknown tokenizer format");
  write_file_atomic(dir / "mystery.tiktoken", toy_tiktoken());
  check_refused(dir / "mystery.tiktoken", "cl100k_base");
  fs::create_directories(dir / "lonely");
  write_json(dir / "lonely" / "encoder.json", toy_vocab_json());
  check_refused(dir / "lonely" / "encoder.json", "vocab.bpe");
}

TEST_CASE("broken tiktoken rank files are refused") {
  ScratchDir dir("tok-bad-tiktoken");
  auto path = dir / "r50k_base.tiktoken";
  write_file_atomic(path, toy_tiktoken() + "!!!! 300\n");
  check_refused(path, "line 260: bad base64");
  write_file_atomic(path, toy_tiktoken() + base64("xyz") + " 257\n");
  check_refused(path, "duplicate rank 257");
  write_file_atomic(path, toy_tiktoken() + base64("ab") + " 300\n");
  check_refused(path, "hold the same token");
  write_file_atomic(path, toy_tiktoken() + base64("xyz") + " -4\n");
  check_refused(path, "is not an integer");
  write_file_atomic(path, toy_tiktoken() + base64("xyz") + "\n");
  check_refused(path, "expected 'base64 rank'");
  write_file_atomic(path, toy_tiktoken('q'));
  check_refused(path, "no token for byte 113");
}

TEST_CASE("broken GPT-2 files are refused") {
  ScratchDir dir("tok-bad-gpt2");
  write_gpt2(dir / "a", toy_merges_text() + "ab zz\n");
  check_refused(dir / "a" / "encoder.json", "line 5: merge names unknown token 'zz'", dir / "a" / "vocab.bpe");
  write_gpt2(dir / "b", toy_merges_text() + "b a\n");
  check_refused(dir / "b" / "encoder.json", "unknown token 'ba'", dir / "b" / "vocab.bpe");
  write_gpt2(dir / "c", toy_merges_text());
  write_file_atomic(dir / "c" / "encoder.json", "{\"a\": 1,");
  check_refused(dir / "c" / "encoder.json", "malformed JSON");
}

TEST_CASE("broken Hugging Face files are refused with the offending key") {
  ScratchDir dir("tok-bad-hf");
  auto path = dir / "tokenizer.json";
  auto refuse = [&](const json& config, const std::string& problem) {
    write_json(path, config);
    check_refused(path, problem);
  };
  write_file_atomic(path, "{\"model\": [");
  check_refused(path, "malformed JSON");
  refuse(json{{"version", "1.0"}}, "with a \"model\" key");

  json config = toy_hugging_face(true, false);
  config["model"]["merges"].push_back("ab zz");
  refuse(config, "model.merges[3]: names unknown token 'zz'");
  config = toy_hugging_face(true, true);
  config["model"]["merges"].push_back(json::array({"b", "a"}));
  refuse(config, "model.merges[3]: names unknown token 'ba'");
  config = toy_hugging_face(true, false);
  config["model"]["merges"].push_back("a b c");
  refuse(config, "model.merges[3]: expected \"a b\"");
  config["model"]["merges"] = json::array({json::array({"a", "b", "c"})});
  refuse(config, "model.merges[0]: expected");
  config["model"]["merges"] = 5;
  refuse(config, "model.merges: expected an array, found a number");
  config["model"].erase("merges");
  refuse(config, "model.merges: missing");
  config = toy_hugging_face(true, false);
  config["model"]["vocab"]["zz"] = "7";
  refuse(config, "model.vocab['zz']: id is not an integer");
  config["model"]["vocab"] = json::array();
  refuse(config, "model.vocab: expected an object, found an array");
  config = toy_hugging_face(true, false);
  config["model"]["vocab"].erase("q");
  refuse(config, "no token for byte 113");
  config = toy_hugging_face(true, false);
  config["model"]["vocab"]["\xE4\xB8\xAD"] = 400;
  refuse(config, "byte-level alphabet");
  config = toy_hugging_face(true, false);
  config["model"]["vocab"]["zz"] = 257;
  refuse(config, "id 257 is used twice");
  config = toy_hugging_face(true, false);
  config["model"]["type"] = "WordPiece";
  refuse(config, "model.type");
  config = toy_hugging_face(true, false);
  config["normalizer"] = {{"type", "NFKC"}};
  refuse(config, "normalizer.type: 'NFKC' is not supported");
  config["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "NFC"}}, {{"type", "Lowercase"}}})}};
  refuse(config, "normalizer.normalizers[1].type");
  config = toy_hugging_face(true, false);
  config["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
  refuse(config, "pre_tokenizer.pretokenizers[0].behavior");
  config["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Isolated";
  config["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  refuse(config, "bad regex");
  config = toy_hugging_face(true, false);
  config["pre_tokenizer"] = {{"type", "Whitespace"}};
  refuse(config, "pre_tokenizer.type: 'Whitespace'");
  config["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Isolated"}};
  refuse(config, "no ByteLevel step");
  config = toy_hugging_face(true, false);
  config["decoder"] = {{"type", "WordPiece"}};
  refuse(config, "decoder.type");
  config = toy_hugging_face(true, false);
  config["added_tokens"][0]["id"] = 257;
  refuse(config, "already belongs to token 'bc'");
  config = toy_hugging_face(true, false);
  config["added_tokens"][0]["lstrip"] = true;
  refuse(config, "added_tokens[0].lstrip");
}

TEST_CASE("a Hugging Face file without <|endoftext|> takes its end-of-document token from tokenizer_config.json") {
  ScratchDir dir("tok-eos");
  json config = toy_hugging_face(true, false);
  config["added_tokens"][0]["content"] = "<|im_end|>";
  write_json(dir / "tokenizer.json", config);
  Tokenizer without_config = Tokenizer::load(dir / "tokenizer.json");
  CHECK_THROWS_AS(without_config.eod_id(), Error);
  write_json(dir / "tokenizer_config.json", json{{"eos_token", {{"content", "<|im_end|>"}}}});
  Tokenizer with_config = Tokenizer::load(dir / "tokenizer.json");
  CHECK(with_config.eod_id() == 50256);
  CHECK(with_config.content_hash() != without_config.content_hash());
}

TEST_CASE("a key given twice in any tokenizer file is refused, naming the file and the key") {
  ScratchDir dir("tok-duplicates");
  auto with_duplicate = [](std::string text, const std::string& at, const std::string& inserted) {
    REQUIRE(text.find(at) != std::string::npos);
    return text.insert(text.find(at), inserted);
  };
  const auto path = dir / "tokenizer.json";
  const std::string hugging_face = toy_hugging_face(true, false).dump();
  write_file_atomic(path, with_duplicate(hugging_face, "\"ab\":256", "\"ab\":256,"));
  check_refused(path, "model.vocab['ab']: duplicate key");
  write_file_atomic(path, with_duplicate(hugging_face, "\"ab\":256", "\"ab\":300,"));
  check_refused(path, "model.vocab['ab']: duplicate key (ids 300 and 256)");
  write_file_atomic(path, with_duplicate(hugging_face, "\"decoder\":", "\"decoder\":null,"));
  check_refused(path, "decoder: duplicate key");
  write_file_atomic(path, with_duplicate(hugging_face, "\"merges\":", "\"vocab\":{},"));
  check_refused(path, "model.vocab: duplicate key");
  write_file_atomic(path, with_duplicate(hugging_face, "\"type\":\"BPE\"", "\"type\":\"BPE\","));
  check_refused(path, "model.type: duplicate key");

  write_gpt2(dir / "gpt2", toy_merges_text());
  const std::string encoder = read_file(dir / "gpt2" / "encoder.json");
  write_file_atomic(dir / "gpt2" / "encoder.json", with_duplicate(encoder, "\"abc\":", "\"abc\":1,"));
  check_refused(dir / "gpt2" / "encoder.json", "abc: duplicate key");

  json config = toy_hugging_face(true, false);
  config["added_tokens"][0]["content"] = "<|im_end|>";
  write_json(dir / "eos" / "tokenizer.json", config);
  write_file_atomic(dir / "eos" / "tokenizer_config.json", R"({"eos_token": "a", "eos_token": "<|im_end|>"})");
  check_refused(dir / "eos" / "tokenizer.json", "eos_token: duplicate key", dir / "eos" / "tokenizer_config.json");
}

TEST_CASE("a tokenizer file nested beyond the reader's limit or holding a huge number is refused, not a crash") {
  ScratchDir dir("tok-deep");
  const auto path = dir / "tokenizer.json";
  json config = toy_hugging_face(true, false);
  std::string text = config.dump();
  text.insert(text.find("\"decoder\":"), "\"x\":" + std::string(100000, '[') + std::string(100000, ']') + ",");
  write_file_atomic(path, text);
  check_refused(path, "x[0][0][0]");
  check_refused(path, "nest deeper than 128 levels");
  text = config.dump();
  text.replace(text.find("\"ab\":256"), 8, "\"ab\":1e999");
  write_file_atomic(path, text);
  check_refused(path, "model.vocab.ab: number 1e999 is out of range");
  fs::create_directories(dir / "gpt2");
  write_file_atomic(dir / "gpt2" / "encoder.json", "{\"a\":" + std::string(100000, '[') + std::string(100000, ']'));
  write_file_atomic(dir / "gpt2" / "vocab.bpe", toy_merges_text());
  check_refused(dir / "gpt2" / "encoder.json", "a[0][0][0]");
}
