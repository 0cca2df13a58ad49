// Tests of the tokenizer on the bundled vocabularies: published ids, special tokens, NFC, threads, BPE merging.
#include <doctest/doctest.h>
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <thread>

#include "data/tokenizer/bpe_merge.h"
#include "data/tokenizer/nfc.h"
#include "data/tokenizer/tokenizer.h"
#include "engine/error.h"
#include "tests/support.h"
#include "tests/tokenizer_support.h"

using namespace diverge;
using diverge::data::Tokenizer;
using diverge::test::bundled_tokenizer;
using Ids = std::vector<std::int32_t>;

TEST_CASE("published ids: GPT-2 and cl100k encode 'Hello world' / 'hello world' as documented") {
  // GPT-2 ids from OpenAI's GPT-2 examples; cl100k ids from tiktoken's README.
  CHECK(bundled_tokenizer("gpt2").encode("Hello world") == Ids{15496, 995});
  CHECK(bundled_tokenizer("r50k_base").encode("Hello world") == Ids{15496, 995});
  CHECK(bundled_tokenizer("cl100k_base").encode("hello world") == Ids{15339, 1917});
}

TEST_CASE("vocabulary sizes, names and end-of-document ids") {
  struct Expected {
    std::string name;
    std::uint32_t vocab_size;
    std::int32_t eod;
  };
  for (const auto& e : {Expected{"r50k_base", 50257, 50256}, Expected{"cl100k_base", 100277, 100257},
                        Expected{"gpt2", 50257, 50256}, Expected{"qwen3", 151669, 151643}}) {
    CAPTURE(e.name);
    const Tokenizer& t = bundled_tokenizer(e.name);
    CHECK(t.name() == e.name);
    CHECK(t.vocab_size() == e.vocab_size);
    CHECK(t.eod_id() == e.eod);
    CHECK(t.token_id("<|endoftext|>") == e.eod);
    CHECK(t.content_hash().rfind("xxh3-128:", 0) == 0);
  }
  CHECK(bundled_tokenizer("cl100k_base").token_id("<|fim_middle|>") == 100259);
  CHECK(bundled_tokenizer("cl100k_base").token_id("<|endofprompt|>") == 100276);
  CHECK(bundled_tokenizer("qwen3").token_id("<|im_start|>") == 151644);
  CHECK(!bundled_tokenizer("qwen3").token_id("<|no_such_token|>").has_value());
}

TEST_CASE("special tokens are plain text for encode and single ids for encode_with_special") {
  for (const auto& name : test::bundled_tokenizer_names()) {
    CAPTURE(name);
    const Tokenizer& t = bundled_tokenizer(name);
    std::string text = "end.<|endoftext|>Next";
    Ids plain = t.encode(text);
    CHECK(std::find(plain.begin(), plain.end(), t.eod_id()) == plain.end());
    CHECK(t.decode(plain) == text);
    Ids special = t.encode_with_special(text);
    CHECK(std::count(special.begin(), special.end(), t.eod_id()) == 1);
    CHECK(t.decode(special) == text);
    Ids pieces = t.encode("end.");
    pieces.push_back(t.eod_id());
    Ids after = t.encode("Next");
    pieces.insert(pieces.end(), after.begin(), after.end());
    CHECK(special == pieces);
    CHECK(t.encode_with_special("<|endoftext|>") == Ids{t.eod_id()});
  }
}

TEST_CASE("Hugging Face non-special added tokens match in ordinary encoding, special ones do not") {
  const Tokenizer& qwen = bundled_tokenizer("qwen3");
  // Qwen3's tokenizer.json lists <think> (151667) and <|fim_prefix|> (151659) with "special": false.
  CHECK(qwen.encode("<think>\nyes</think>") == qwen.encode_with_special("<think>\nyes</think>"));
  CHECK(qwen.encode("a<think>b").at(1) == 151667);
  CHECK(qwen.encode("<|fim_prefix|>") == Ids{151659});
  CHECK(qwen.encode("<|im_start|>").size() > 1);
  CHECK(qwen.encode_with_special("<|im_start|>") == Ids{151644});
  CHECK(qwen.normalize("e\xCC\x81<think>\xCC\x81") == "\xC3\xA9<think>\xCC\x81");
}

TEST_CASE("\\s means Unicode White_Space, as in tiktoken: U+180E is not a space") {
  const Tokenizer& t = bundled_tokenizer("r50k_base");
  // tiktoken encodes " \u180e" as one piece (' ?[^\s\p{L}\p{N}]+'), whose first token is " \xe1"; were U+180E a
  // space, the space would stand alone.
  CHECK(t.token_bytes(t.encode(" \xE1\xA0\x8E").at(0)) == " \xE1");
}

TEST_CASE("encode_append appends and agrees with encode") {
  const Tokenizer& t = bundled_tokenizer("cl100k_base");
  Ids out = {7};
  t.encode_append("hello world", out);
  CHECK(out == Ids{7, 15339, 1917});
}

TEST_CASE("NFC: qwen3 composes a decomposed accent, cl100k keeps the bytes") {
  const std::string decomposed = "caf" "e\xCC\x81";  // e + U+0301 COMBINING ACUTE ACCENT
  const std::string composed = "caf" "\xC3\xA9";     // U+00E9
  const Tokenizer& qwen = bundled_tokenizer("qwen3");
  CHECK(qwen.normalizes());
  CHECK(qwen.normalize(decomposed) == composed);
  CHECK(qwen.encode(decomposed) == qwen.encode(composed));
  CHECK(qwen.decode(qwen.encode(decomposed)) == composed);
  const Tokenizer& cl100k = bundled_tokenizer("cl100k_base");
  CHECK(!cl100k.normalizes());
  CHECK(cl100k.normalize(decomposed) == decomposed);
  CHECK(cl100k.encode(decomposed) != cl100k.encode(composed));
  CHECK(cl100k.decode(cl100k.encode(decomposed)) == decomposed);
}

TEST_CASE("NFC leaves invalid bytes in place and does not compose across them") {
  const Tokenizer& qwen = bundled_tokenizer("qwen3");
  CHECK(qwen.normalize("e\xFF\xCC\x81") == "e\xFF\xCC\x81");
  CHECK(qwen.normalize("\xFF" "e\xCC\x81\xFE") == "\xFF\xC3\xA9\xFE");
}

TEST_CASE("windowed NFC equals utf8proc's NFC of the whole text on random valid UTF-8") {
  // Fragments where composition and reordering happen: base letters (ASCII and not) before combining marks in
  // non-canonical order, Hangul jamo that compose into syllables, singletons that NFC replaces.
  const std::vector<std::string> fragments = {
      "a", "e", " ", "x.", "\xC3\xA9", "\xCC\x81", "\xCC\xA3", "\xCC\x88", "\xE1\x84\x80", "\xE1\x85\xA1",
      "\xE1\x86\xA8", "\xE2\x84\xAB", "\xEF\xAC\x81", "\xE4\xB8\xAD", "\xD0\xB8\xCC\x86", "\xE0\xA4\xB9",
      "\xE0\xA4\xBC", "\xF0\x9F\x98\x80", "\xCD\x80", "A\xCC\x8A"};
  std::mt19937 rng(3);
  for (int i = 0; i < 500; ++i) {
    std::string text;
    for (std::size_t n = rng() % 40; n > 0; --n) text += fragments[rng() % fragments.size()];
    std::string windowed;
    data::append_nfc(text, windowed);
    utf8proc_uint8_t* whole = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(text.c_str()));
    REQUIRE(whole != nullptr);
    std::string expected(reinterpret_cast<const char*>(whole));
    std::free(whole);
    CAPTURE(test::printable(text));
    CHECK(test::printable(windowed) == test::printable(expected));
    if (expected != text) CHECK(data::nfc_may_change(text));
  }
}

TEST_CASE("decode rejects ids out of range and ids with no token") {
  const Tokenizer& t = bundled_tokenizer("cl100k_base");
  CHECK_THROWS_AS(t.decode(Ids{-1}), Error);
  CHECK_THROWS_AS(t.decode(Ids{100277}), Error);
  CHECK_THROWS_AS(t.decode(Ids{100256}), Error);  // a gap between the ranks and the special tokens
  try {
    t.decode(Ids{1, 999999});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("999999") != std::string::npos);
  }
}

TEST_CASE("a long piece without spaces (heap merging) round trips and matches its chunks' vocabulary") {
  const Tokenizer& t = bundled_tokenizer("cl100k_base");
  std::string word;
  for (int i = 0; i < 5000; ++i) word += "abracadabra"[i % 11];
  Ids ids = t.encode(word);
  CHECK(ids.size() < word.size() / 2);
  CHECK(t.decode(ids) == word);
}

TEST_CASE("encoding from several threads at once gives the single-thread results") {
  std::vector<std::string> texts;
  std::mt19937 rng(7);
  const std::vector<std::string> words = {"the", " model", " routes", " tokens", "\n", "  ", " 12345", " caf\xC3\xA9",
                                          " \xE4\xB8\xAD\xE6\x96\x87", "\xF0\x9F\x98\x80", "(x)", " dom\xC3\xA4ne"};
  for (int i = 0; i < 64; ++i) {
    std::string text;
    for (int w = 0; w < 300; ++w) text += words[rng() % words.size()];
    texts.push_back(text);
  }
  for (const auto& name : {"cl100k_base", "qwen3"}) {
    CAPTURE(name);
    const Tokenizer& t = bundled_tokenizer(name);
    std::vector<Ids> expected;
    for (const auto& text : texts) expected.push_back(t.encode(text));
    std::vector<int> mismatches(4, 0);
    std::vector<std::thread> threads;
    for (int k = 0; k < 4; ++k) {
      threads.emplace_back([&, k] {
        for (int round = 0; round < 3; ++round) {
          for (std::size_t i = 0; i < texts.size(); ++i) {
            if (t.encode(texts[(i + static_cast<std::size_t>(k)) % texts.size()]) !=
                expected[(i + static_cast<std::size_t>(k)) % texts.size()]) {
              ++mismatches[static_cast<std::size_t>(k)];
            }
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
    CHECK(mismatches == std::vector<int>(4, 0));
  }
}

TEST_CASE("one thread alternating between more tokenizers than it keeps caches for gets the same ids") {
  std::vector<const Tokenizer*> tokenizers;
  for (const auto& name : test::bundled_tokenizer_names()) tokenizers.push_back(&bundled_tokenizer(name));
  tokenizers.push_back(&test::cached_tokenizer(test::source_path("data/vocab/gpt2")));
  tokenizers.push_back(&test::cached_tokenizer(test::source_path("data/vocab/qwen3")));
  const std::string text = "Mixture-of-experts routing, r\xC3\xA9sum\xC3\xA9s and \xE4\xB8\xAD\xE6\x96\x87 text";
  std::vector<Ids> first;
  for (const auto* t : tokenizers) first.push_back(t->encode(text));
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < tokenizers.size(); ++i) CHECK(tokenizers[i]->encode(text) == first[i]);
  }
  CHECK(first[2] == first[4]);  // gpt2 loaded from its encoder.json and from its directory
}

namespace {

// A toy merge table over single-byte ids (id = byte value): the priorities below are worked through by hand.
struct ToyMerges {
  data::ByteIds bytes{};
  data::PairTable pairs;
  ToyMerges() {
    for (int b = 0; b < 256; ++b) bytes[static_cast<std::size_t>(b)] = b;
    pairs.set('a', 'a', {0, 256});  // "aa"
    pairs.set(256, 'a', {1, 257});  // "aaa"
    pairs.set('a', 'b', {2, 258});  // "ab"
    pairs.set('b', 'c', {3, 259});  // "bc"
    pairs.set(258, 'c', {4, 260});  // "abc"
    pairs.set(256, 256, {5, 261});  // "aaaa"
  }
  Ids scan(std::string_view piece) const {
    data::BpeScratch scratch;
    Ids out;
    data::bpe_merge_scan(piece, bytes, pairs, scratch, out);
    return out;
  }
  Ids heap(std::string_view piece) const {
    data::BpeScratch scratch;
    Ids out;
    data::bpe_merge_heap(piece, bytes, pairs, scratch, out);
    return out;
  }
};

}  // namespace

TEST_CASE("BPE merges the lowest-priority pair first, leftmost on ties, in both strategies") {
  ToyMerges toy;
  // aaab: (a,a) at 0 first -> [aa a b]; then (aa,a) -> [aaa b]; no rule for (aaa, b).
  CHECK(toy.scan("aaab") == Ids{257, 'b'});
  // aaaa: (a,a) at 0 -> [aa a a]; now (a,a)=0 beats (aa,a)=1 -> [aa aa]; then (aa,aa) -> aaaa.
  CHECK(toy.scan("aaaa") == Ids{261});
  // abc: (a,b)=2 before (b,c)=3 -> [ab c] -> (ab,c) -> abc.
  CHECK(toy.scan("abc") == Ids{260});
  // xbc: only (b,c) applies.
  CHECK(toy.scan("xbc") == Ids{'x', 259});
  for (const char* piece : {"aaab", "aaaa", "abc", "xbc", "a", "aaaaaaa", "abcabcaab"}) {
    CAPTURE(piece);
    CHECK(toy.heap(piece) == toy.scan(piece));
  }
}

TEST_CASE("BPE scan and heap strategies agree on random pieces") {
  ToyMerges toy;
  std::mt19937 rng(11);
  for (int i = 0; i < 500; ++i) {
    std::string piece(1 + rng() % 300, 'a');
    for (auto& c : piece) c = "aabcx"[rng() % 5];
    CAPTURE(piece);
    REQUIRE(toy.heap(piece) == toy.scan(piece));
  }
}
