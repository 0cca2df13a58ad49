// Tests for BPE training: piece counting, merge order and tie-breaks, determinism, the saved tokenizer.json, errors.
#include <doctest/doctest.h>

#include <cstdlib>

#include <algorithm>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>

#include "data/tokenizer/byte_level.h"
#include "data/tokenizer/piece_counter.h"
#include "data/tokenizer/tokenizer.h"
#include "data/tokenizer/tokenizer_json_writer.h"
#include "data/tokenizer/trainer.h"
#include "engine/error.h"
#include "engine/files.h"
#include "tests/support.h"

using namespace diverge;
using namespace diverge::data;
using diverge::test::ScratchDir;

namespace {

using Merge = std::pair<std::int32_t, std::int32_t>;

std::string jsonl_of(const std::vector<std::string>& texts) {
  std::string out;
  for (const auto& t : texts) out += nlohmann::json({{"text", t}}).dump() + "\n";
  return out;
}

// About 20 kB of varied, repeatable text: sentences drawn from a word list, code with indentation, numbers,
// non-Latin scripts and awkward whitespace (runs of spaces and tabs, blank lines, CRLF, trailing spaces).
std::vector<std::string> sample_documents() {
  static const std::vector<std::string> words = {
      "the",   "quick",  "brown", "fox",    "jumps",   "over",   "lazy",    "dog's", "expert",  "router",
      "token", "mixture", "of",    "domain", "loss",    "they're", "we'll",  "It's",  "Жук",     "ёж",
      "中文",  "数学",   "α",     "∑",      "naïve",   "café",   "x_1",     "==",    "->",      "{}",
      "2024",  "3.14",   "1,000", "0x1F",   "return",  "def",    "int",     "while", "#include", "😀"};
  static const std::vector<std::string> gaps = {" ", " ", " ", "  ", "\n", "\n\n", "\t", " \n  ", "\r\n", ", ", ". "};
  std::mt19937 rng(42);
  std::uniform_int_distribution<std::size_t> word(0, words.size() - 1);
  std::uniform_int_distribution<std::size_t> gap(0, gaps.size() - 1);
  std::vector<std::string> docs;
  for (int d = 0; d < 80; ++d) {
    std::string doc = "def f" + std::to_string(d) + "(x):\n    return x * " + std::to_string(d * 37) + "\n";
    for (int w = 0; w < 40; ++w) doc += words[word(rng)] + gaps[gap(rng)];
    docs.push_back(doc);
  }
  return docs;
}

std::map<std::string, std::uint64_t> as_map(const CorpusCounts& counts) {
  std::map<std::string, std::uint64_t> m;
  for (const auto& p : counts.pieces) m[p.bytes] = p.count;
  return m;
}

std::vector<PieceCount> pieces_of(const std::vector<std::pair<std::string, std::uint64_t>>& list) {
  std::vector<PieceCount> pieces;
  for (const auto& [bytes, count] : list) pieces.push_back({bytes, count});
  return pieces;
}

// The textbook algorithm, written independently of the trainer: recount every pair before each merge and take the
// most frequent (ties: the smallest pair).
std::vector<Merge> naive_merges(const std::vector<PieceCount>& pieces, std::size_t merges_wanted) {
  std::vector<std::vector<std::int32_t>> words;
  for (const auto& p : pieces) {
    std::vector<std::int32_t> w;
    for (unsigned char c : p.bytes) w.push_back(c);
    words.push_back(w);
  }
  std::vector<Merge> merges;
  while (merges.size() < merges_wanted) {
    std::map<Merge, std::int64_t> counts;
    for (std::size_t i = 0; i < words.size(); ++i) {
      for (std::size_t j = 0; j + 1 < words[i].size(); ++j) {
        counts[{words[i][j], words[i][j + 1]}] += static_cast<std::int64_t>(pieces[i].count);
      }
    }
    std::optional<Merge> best;
    std::int64_t best_count = 0;
    for (const auto& [pair, count] : counts) {
      if (count > best_count) {
        best = pair;
        best_count = count;
      }
    }
    if (!best) break;
    const auto id = static_cast<std::int32_t>(256 + merges.size());
    merges.push_back(*best);
    for (auto& w : words) {
      std::vector<std::int32_t> out;
      for (std::size_t j = 0; j < w.size(); ++j) {
        if (j + 1 < w.size() && w[j] == best->first && w[j + 1] == best->second) {
          out.push_back(id);
          ++j;
        } else {
          out.push_back(w[j]);
        }
      }
      w = out;
    }
  }
  return merges;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TrainerOptions options_for(const fs::path& input, std::size_t vocab_size) {
  TrainerOptions options;
  options.inputs = {input};
  options.vocab_size = vocab_size;
  options.pattern = resolve_pattern("cl100k");
  return options;
}

}  // namespace

TEST_CASE("pieces are the pattern's matches and the gaps between them, counted over JSONL documents") {
  ScratchDir dir("train");
  write_file_atomic(dir / "a.jsonl", jsonl_of({"ab, cd", "cd!"}) + "\n  \n");
  const Regex letters("[a-z]+", false, "test");
  CorpusCounts counts = count_pieces({dir / "a.jsonl"}, letters, {});
  CHECK(counts.documents == 2);
  CHECK(counts.total_pieces == 5);
  CHECK(as_map(counts) == std::map<std::string, std::uint64_t>{{"ab", 1}, {", ", 1}, {"cd", 2}, {"!", 1}});
}

TEST_CASE("piece counts do not depend on threads or chunk size, for JSONL and plain text") {
  ScratchDir dir("train");
  const auto docs = sample_documents();
  std::string text;
  for (const auto& d : docs) text += d;
  write_file_atomic(dir / "docs.jsonl", jsonl_of(docs));
  write_file_atomic(dir / "docs.txt", text);
  for (const auto* pattern : {"cl100k", "gpt2"}) {
    CAPTURE(pattern);
    const Regex regex(resolve_pattern(pattern), false, "test");
    for (const auto* file : {"docs.jsonl", "docs.txt"}) {
      CAPTURE(file);
      CountOptions whole;
      CountOptions chunked;
      chunked.threads = 3;
      chunked.chunk_bytes = 50;
      CorpusCounts a = count_pieces({dir / file}, regex, whole);
      CorpusCounts b = count_pieces({dir / file}, regex, chunked);
      CHECK(as_map(a) == as_map(b));
      CHECK(a.total_pieces == b.total_pieces);
      CHECK(a.documents == b.documents);
    }
  }
}

TEST_CASE("xz-compressed inputs count exactly as their plain originals") {
  ScratchDir dir("train");
  write_file_atomic(dir / "docs.jsonl", jsonl_of(sample_documents()));
  REQUIRE(std::system(("xz -k " + (dir / "docs.jsonl").string()).c_str()) == 0);
  const Regex regex(resolve_pattern("cl100k"), false, "test");
  CorpusCounts plain = count_pieces({dir / "docs.jsonl"}, regex, {});
  CorpusCounts packed = count_pieces({dir / "docs.jsonl.xz"}, regex, {});
  CHECK(as_map(plain) == as_map(packed));
  CHECK(plain.documents == packed.documents);
  write_file_atomic(dir / "corrupt.jsonl.xz", std::string("\xfd" "7zXZ\0garbage", 13));
  CHECK(contains(error_of([&] { count_pieces({dir / "corrupt.jsonl.xz"}, regex, {}); }), "corrupt.jsonl.xz"));
}

TEST_CASE("the first merges are the most frequent pairs, ties going to the smaller pair of ids") {
  // (a,b) occurs 5 times, (' ',a) 4, then (' ',c) and (c,d) twice each: ' ' (32) sorts before 'c' (99).
  TrainedBpe bpe = learn_bpe(pieces_of({{"ab", 1}, {" ab", 4}, {" cd", 2}}), 261, 1, false);
  const std::vector<Merge> expected = {{'a', 'b'}, {' ', 256}, {' ', 'c'}, {258, 'd'}};
  CHECK(bpe.merges == expected);
  CHECK(bpe.tokens.at(257) == " ab");
  CHECK(bpe.tokens.at(259) == " cd");
  CHECK(bpe.end_of_text_id == 260);
}

TEST_CASE("overlapping pairs merge left to right and are counted once per position") {
  // "aaaa" holds (a,a) three times: 3 x 3 = 9 beats (a,b) = 5; after the merge it is [aa, aa].
  TrainedBpe bpe = learn_bpe(pieces_of({{"aaaa", 3}, {"ab", 5}}), 260, 1, false);
  const std::vector<Merge> expected = {{'a', 'a'}, {'a', 'b'}, {256, 256}};
  CHECK(bpe.merges == expected);
  CHECK(bpe.pieces.at(0).bytes == "aaaa");
  CHECK(bpe.pieces.at(0).ids == std::vector<std::int32_t>{258});
  TrainedBpe odd = learn_bpe(pieces_of({{"aaa", 1}}), 258, 1, false);
  CHECK(odd.pieces.at(0).ids == std::vector<std::int32_t>{256, 'a'});
}

TEST_CASE("incremental training picks exactly the merges of the naive algorithm on random corpora") {
  std::mt19937 rng(1234);
  for (int round = 0; round < 20; ++round) {
    std::map<std::string, std::uint64_t> counted;
    std::uniform_int_distribution<int> length(1, 14);
    std::uniform_int_distribution<int> letter(0, 2);
    std::uniform_int_distribution<int> count(1, 6);
    for (int i = 0; i < 60; ++i) {
      std::string piece;
      for (int n = length(rng); n > 0; --n) piece += "ab "[letter(rng)];
      counted[piece] += static_cast<std::uint64_t>(count(rng));
    }
    std::vector<PieceCount> pieces;
    for (const auto& [bytes, n] : counted) pieces.push_back({bytes, n});
    const std::vector<Merge> naive = naive_merges(pieces, 1000);
    CAPTURE(round);
    TrainedBpe bpe = learn_bpe(pieces, 257 + naive.size(), 1, false);
    CHECK(bpe.merges == naive);
    CHECK_THROWS_AS(learn_bpe(pieces, 258 + naive.size(), 1, false), Error);
  }
}

TEST_CASE("every token's bytes are unique and each merge makes the next id") {
  ScratchDir dir("train");
  write_file_atomic(dir / "docs.jsonl", jsonl_of(sample_documents()));
  TrainedBpe bpe = train_bpe(options_for(dir / "docs.jsonl", 400));
  std::set<std::string> distinct(bpe.tokens.begin(), bpe.tokens.end());
  CHECK(distinct.size() == bpe.tokens.size());
  for (std::size_t i = 0; i < bpe.merges.size(); ++i) {
    const auto [left, right] = bpe.merges[i];
    CHECK(bpe.tokens[256 + i] == bpe.tokens[static_cast<std::size_t>(left)] + bpe.tokens[static_cast<std::size_t>(right)]);
  }
}

TEST_CASE("each trained piece's ids spell the piece") {
  ScratchDir dir("train");
  write_file_atomic(dir / "docs.jsonl", jsonl_of(sample_documents()));
  TrainedBpe bpe = train_bpe(options_for(dir / "docs.jsonl", 500));
  REQUIRE(!bpe.pieces.empty());
  for (const auto& piece : bpe.pieces) {
    std::string spelled;
    for (auto id : piece.ids) spelled += bpe.tokens.at(static_cast<std::size_t>(id));
    CHECK(spelled == piece.bytes);
  }
}

TEST_CASE("training twice gives byte-identical files, whatever the threads and chunks") {
  ScratchDir dir("train");
  write_file_atomic(dir / "docs.jsonl", jsonl_of(sample_documents()));
  TrainerOptions one = options_for(dir / "docs.jsonl", 420);
  TrainerOptions many = one;
  many.counting.threads = 4;
  many.counting.chunk_bytes = 64;
  const std::string first = tokenizer_json(train_bpe(one));
  CHECK(tokenizer_json(train_bpe(one)) == first);
  CHECK(tokenizer_json(train_bpe(many)) == first);
}

TEST_CASE("the saved tokenizer.json has exactly vocab-size tokens: bytes in byte order, merges, <|endoftext|> last") {
  ScratchDir dir("train");
  write_file_atomic(dir / "docs.jsonl", jsonl_of(sample_documents()));
  TrainedBpe bpe = train_bpe(options_for(dir / "docs.jsonl", 300));
  const auto doc = nlohmann::json::parse(tokenizer_json(bpe));
  const auto& vocab = doc["model"]["vocab"];
  const auto& merges = doc["model"]["merges"];
  REQUIRE(vocab.size() == 299);
  REQUIRE(merges.size() == 43);
  std::set<int> ids;
  for (const auto& [token, id] : vocab.items()) ids.insert(id.get<int>());
  CHECK(ids.size() == 299);
  CHECK(*ids.begin() == 0);
  CHECK(*ids.rbegin() == 298);
  for (int b = 0; b < 256; ++b) {
    CHECK(vocab[bytes_to_byte_level(std::string(1, static_cast<char>(b)))] == b);
  }
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const std::string merge = merges[i];
    const auto space = merge.find(' ');
    REQUIRE(space != std::string::npos);
    CHECK(vocab[merge.substr(0, space) + merge.substr(space + 1)] == 256 + i);
  }
  REQUIRE(doc["added_tokens"].size() == 1);
  CHECK(doc["added_tokens"][0]["id"] == 299);
  CHECK(doc["added_tokens"][0]["content"] == "<|endoftext|>");
  CHECK(doc["added_tokens"][0]["special"] == true);
  CHECK(doc["normalizer"].is_null());
  CHECK(doc["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] == resolve_pattern("cl100k"));
  CHECK(doc["pre_tokenizer"]["pretokenizers"][1]["type"] == "ByteLevel");
  CHECK(doc["decoder"]["type"] == "ByteLevel");
}

TEST_CASE("the saved file loads with Tokenizer::load, which encodes the corpus exactly as training cut it") {
  ScratchDir dir("train");
  const auto docs = sample_documents();
  write_file_atomic(dir / "docs.jsonl", jsonl_of(docs));
  const TrainedBpe bpe = train_bpe(options_for(dir / "docs.jsonl", 500));
  write_file_atomic(dir / "tokenizer.json", tokenizer_json(bpe));
  const Tokenizer tokenizer = Tokenizer::load(dir / "tokenizer.json");
  CHECK(tokenizer.vocab_size() == 500);
  CHECK(tokenizer.eod_id() == 499);
  CHECK(tokenizer.token_id("<|endoftext|>") == 499);

  std::map<std::string, std::vector<std::int32_t>> trained;
  for (const auto& piece : bpe.pieces) trained[piece.bytes] = piece.ids;
  const Regex regex(bpe.pattern, false, "test");
  RegexScratch scratch;
  for (const auto& doc : docs) {
    std::vector<std::int32_t> expected;
    split_isolated(regex, doc, scratch, [&](std::string_view piece) {
      const auto& ids = trained.at(std::string(piece));
      expected.insert(expected.end(), ids.begin(), ids.end());
    });
    const auto ids = tokenizer.encode(doc);
    CHECK(ids == expected);
    CHECK(tokenizer.decode(ids) == doc);
  }
  const auto with_special = tokenizer.encode_with_special("end<|endoftext|>start");
  CHECK(std::count(with_special.begin(), with_special.end(), 499) == 1);
}

TEST_CASE("bad sizes, empty or malformed input and unreachable vocabularies are errors that say why") {
  ScratchDir dir("train");
  write_file_atomic(dir / "docs.jsonl", jsonl_of(sample_documents()));
  write_file_atomic(dir / "empty.jsonl", "\n\n");
  write_file_atomic(dir / "bad.jsonl", jsonl_of({"fine"}) + "{\"text\": \n");
  write_file_atomic(dir / "notext.jsonl", "{\"body\": \"x\"}\n");
  write_file_atomic(dir / "data.csv", "a,b\n");

  CHECK(contains(error_of([&] { train_bpe(options_for(dir / "docs.jsonl", 256)); }), "--vocab-size"));
  CHECK(contains(error_of([&] { learn_bpe(pieces_of({{"ab", 1}}), 100, 1, false); }), "at least 257"));
  CHECK(contains(error_of([&] { train_bpe(options_for(dir / "empty.jsonl", 300)); }), "no text"));
  CHECK(contains(error_of([&] { train_bpe(options_for(dir / "bad.jsonl", 300)); }), "bad.jsonl:2"));
  CHECK(contains(error_of([&] { train_bpe(options_for(dir / "notext.jsonl", 300)); }), "\"text\""));
  CHECK(contains(error_of([&] { train_bpe(options_for(dir / "data.csv", 300)); }), "data.csv"));
  CHECK(contains(error_of([&] { train_bpe(options_for(dir / "missing.jsonl", 300)); }), "missing.jsonl"));
  TrainerOptions bad_pattern = options_for(dir / "docs.jsonl", 300);
  bad_pattern.pattern = "([a-z";
  CHECK(contains(error_of([&] { train_bpe(bad_pattern); }), "--pattern"));
  CHECK(contains(error_of([&] { learn_bpe(pieces_of({{"aaa", 1}}), 259, 2, false); }), "--vocab-size 258"));
  CHECK(learn_bpe(pieces_of({{"a", 1}}), 257, 2, false).merges.empty());
}

TEST_CASE("diverge tokenizer train writes the file and reports it; bad flags exit 1 with one line") {
  ScratchDir dir("train");
  write_file_atomic(dir / "docs.txt", sample_documents().front() + sample_documents().back());
  write_file_atomic(dir / "more.jsonl", jsonl_of(sample_documents()));
  const std::string out = (dir / "tok.json").string();
  auto ok = diverge::test::run_diverge("tokenizer train --input " + (dir / "docs.txt").string() + "," +
                                       (dir / "more.jsonl").string() + " --vocab-size 280 --pattern gpt2 --output " +
                                       out + " --threads 2");
  CHECK(ok.exit_code == 0);
  CHECK(contains(ok.output, "280 tokens"));
  const auto doc = nlohmann::json::parse(read_file(out));
  CHECK(doc["model"]["vocab"].size() == 279);
  CHECK(doc["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] == resolve_pattern("gpt2"));
  auto bad = diverge::test::run_diverge("tokenizer train --input " + (dir / "docs.txt").string() +
                                        " --vocab-size 10 --output " + out);
  CHECK(bad.exit_code == 1);
  CHECK(contains(bad.output, "error: --vocab-size: must be at least 257"));
}
