// Round trips on random inputs: for every bundled vocabulary, decode(encode(x)) == normalize(x) for arbitrary bytes.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "tests/tokenizer_support.h"

using namespace diverge;
using diverge::test::bundled_tokenizer;

namespace {

// Random strings that stress the pre-tokenizer and the byte handling: raw random bytes (mostly invalid UTF-8),
// truncated and stray UTF-8 sequences, multi-byte characters of several scripts, combining marks, whitespace
// runs, digits, punctuation and apostrophes, mixed in runs of random length.
class RandomText {
 public:
  explicit RandomText(std::uint32_t seed) : rng_(seed) {}

  std::string next(std::size_t max_length) {
    std::size_t length = pick(max_length + 1);
    std::string text;
    while (text.size() < length) append_run(text);
    text.resize(length);  // may cut a character in half: that is one more invalid sequence
    return text;
  }

 private:
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }

  void append_run(std::string& text) {
    static const std::vector<std::string> fragments = {
        "the", "The", " quick", "'s", "'LL", " 1234567", "3.14", "\t", "\n", "\r\n", "   ", " ", "!?", "==", "{}",
        "caf\xC3\xA9", "e\xCC\x81", "\xE4\xB8\xAD\xE6\x96\x87", "\xD0\x9F\xD1\x80\xD0\xB8", "\xF0\x9F\x98\x80",
        "\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB", "\xC2\xA0", "\xE3\x80\x80", "\xE2\x80\xA8", "\xCC\x81",
        "\xE0\xA4\xB9\xE0\xA4\xBF", "\xEF\xBC\xA1", "<|endoftext|>", "\xE2\x88\x91\xE2\x89\xA4"};
    switch (pick(4)) {
      case 0:  // raw random bytes
        for (std::size_t n = 1 + pick(8); n > 0; --n) text.push_back(static_cast<char>(pick(256)));
        break;
      case 1:  // a truncated or stray UTF-8 sequence
        text += std::string("\xE4\xB8\xAD\xF0\x9F\x98\x80\x80\xBF\xC0\xAF\xED\xA0\x80").substr(pick(14), 1 + pick(3));
        break;
      default:  // words, marks, scripts and whitespace
        for (std::size_t n = 1 + pick(12); n > 0; --n) text += fragments[pick(fragments.size())];
        break;
    }
  }

  std::mt19937 rng_;
};

}  // namespace

TEST_CASE("every byte is encoded: decode(encode(x)) == normalize(x) on random bytes, for every vocabulary") {
  for (const auto& name : test::bundled_tokenizer_names()) {
    CAPTURE(name);
    const data::Tokenizer& tokenizer = bundled_tokenizer(name);
    RandomText random(20240601);
    int failures = 0;
    for (int i = 0; i < 300 && failures < 5; ++i) {
      std::string text = random.next(2000);
      std::string expected = tokenizer.normalize(text);
      if (!tokenizer.normalizes()) REQUIRE(expected == text);
      std::vector<std::int32_t> ids = tokenizer.encode(text);
      std::string decoded = tokenizer.decode(ids);
      if (decoded != expected) {
        ++failures;
        CAPTURE(test::printable(text));
        CHECK(test::printable(decoded) == test::printable(expected));
      }
      CHECK(std::all_of(ids.begin(), ids.end(), [&](std::int32_t id) {
        return id >= 0 && static_cast<std::uint32_t>(id) < tokenizer.vocab_size();
      }));
    }
    CHECK(failures == 0);
  }
}

TEST_CASE("encode_with_special round trips too, and empty input encodes to nothing") {
  for (const auto& name : test::bundled_tokenizer_names()) {
    CAPTURE(name);
    const data::Tokenizer& tokenizer = bundled_tokenizer(name);
    CHECK(tokenizer.encode("").empty());
    CHECK(tokenizer.encode_with_special("").empty());
    RandomText random(7);
    for (int i = 0; i < 100; ++i) {
      std::string text = random.next(500);
      CAPTURE(test::printable(text));
      CHECK(tokenizer.decode(tokenizer.encode_with_special(text)) == tokenizer.normalize(text));
    }
  }
}

TEST_CASE("normalize is idempotent and keeps text that is already NFC") {
  const data::Tokenizer& qwen = bundled_tokenizer("qwen3");
  RandomText random(99);
  for (int i = 0; i < 200; ++i) {
    std::string once = qwen.normalize(random.next(300));
    CHECK(qwen.normalize(once) == once);
  }
  CHECK(qwen.normalize("plain ASCII, Latin-1 caf\xC3\xA9 and \xE4\xB8\xAD\xE6\x96\x87") ==
        "plain ASCII, Latin-1 caf\xC3\xA9 and \xE4\xB8\xAD\xE6\x96\x87");
}
