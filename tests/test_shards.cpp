// Tests for Megatron-compatible indexed datasets: round trips, Megatron's own layout, and every damaged-index error.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "data/shard/indexed_dataset.h"
#include "engine/error.h"
#include "engine/files.h"
#include "tests/support.h"

using namespace diverge;
using namespace diverge::data;
using diverge::test::ScratchDir;

namespace {

using Documents = std::vector<std::vector<std::int32_t>>;

void write_dataset(const fs::path& prefix, TokenDtype dtype, const Documents& docs) {
  IndexedDatasetWriter writer(prefix, dtype);
  for (const auto& doc : docs) writer.add_document(doc);
  writer.finish();
}

std::vector<std::int32_t> read_whole(const IndexedDataset& ds, std::size_t d) {
  std::vector<std::int32_t> out(ds.document_length(d));
  ds.read_document(d, 0, out.size(), out.data());
  return out;
}

// Random documents below max_token, with an empty one and the dtype's largest token included.
Documents random_documents(std::uint32_t seed, std::int32_t max_token) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int32_t> token(0, max_token);
  std::uniform_int_distribution<int> length(0, 300);
  Documents docs(50);
  for (auto& doc : docs) {
    doc.resize(static_cast<std::size_t>(length(rng)));
    for (auto& t : doc) t = token(rng);
  }
  docs[3].clear();
  docs[7] = {max_token, 0, max_token};
  return docs;
}

// The message of the Error that opening `prefix` throws, or "" when it opens.
std::string open_error(const fs::path& prefix) {
  try {
    IndexedDataset ds(prefix);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void patch_bytes(const fs::path& file, std::size_t offset, const void* bytes, std::size_t size) {
  std::string contents = read_file(file);
  REQUIRE(offset + size <= contents.size());
  std::memcpy(contents.data() + offset, bytes, size);
  write_file_atomic(file, contents);
}

template <typename T>
void patch_value(const fs::path& file, std::size_t offset, T value) {
  patch_bytes(file, offset, &value, sizeof value);
}

// Offsets in the .idx of a dataset with n sequences (Megatron's layout).
constexpr std::size_t kVersionAt = 9, kDtypeAt = 17, kSequencesAt = 18, kDocIndicesAt = 26, kLengthsAt = 34;
std::size_t pointers_at(std::size_t n) { return kLengthsAt + 4 * n; }
std::size_t doc_index_at(std::size_t n) { return kLengthsAt + 12 * n; }

// A small valid uint16 dataset of 3 documents (4, 0 and 2 tokens) under dir/"x".
fs::path small_dataset(const ScratchDir& dir) {
  auto prefix = dir / "x";
  write_dataset(prefix, TokenDtype::uint16, {{1, 2, 3, 4}, {}, {5, 6}});
  return prefix;
}

void check_error(const std::string& message, const std::string& file, const std::string& problem) {
  INFO("message: " << message);
  CHECK(message.find(file) != std::string::npos);
  CHECK(message.find(problem) != std::string::npos);
}

}  // namespace

TEST_CASE("indexed dataset: write -> read gives back every document, for each integer dtype") {
  ScratchDir dir("shards");
  struct Case {
    TokenDtype dtype;
    std::int32_t max_token;
  };
  for (Case c : {Case{TokenDtype::uint16, 65535}, Case{TokenDtype::int32, std::numeric_limits<std::int32_t>::max()},
                 Case{TokenDtype::uint8, 255}, Case{TokenDtype::int64, std::numeric_limits<std::int32_t>::max()}}) {
    CAPTURE(dtype_name(c.dtype));
    auto docs = random_documents(17, c.max_token);
    auto prefix = dir / ("ds-" + dtype_name(c.dtype));
    write_dataset(prefix, c.dtype, docs);
    IndexedDataset ds(prefix);
    CHECK(ds.dtype() == c.dtype);
    REQUIRE(ds.num_documents() == docs.size());
    CHECK(ds.num_sequences() == docs.size());
    std::uint64_t total = 0;
    for (std::size_t d = 0; d < docs.size(); ++d) {
      CHECK(read_whole(ds, d) == docs[d]);
      total += docs[d].size();
    }
    CHECK(ds.num_tokens() == total);
    CHECK(ds.bin_bytes().size() == total * dtype_size(c.dtype));
  }
}

TEST_CASE("indexed dataset: partial reads return the requested slice and refuse ranges past the document") {
  ScratchDir dir("shards");
  auto prefix = small_dataset(dir);
  IndexedDataset ds(prefix);
  std::vector<std::int32_t> out(2);
  ds.read_document(0, 1, 2, out.data());
  CHECK(out == std::vector<std::int32_t>{2, 3});
  ds.read_document(1, 0, 0, out.data());
  CHECK_THROWS_WITH_AS(ds.read_document(2, 1, 2, out.data()), doctest::Contains("which has 2"), Error);
  CHECK_THROWS_WITH_AS(ds.document_length(3), doctest::Contains("the dataset has 3"), Error);
}

TEST_CASE("indexed dataset: moved datasets keep reading (a loader holds them in a vector)") {
  ScratchDir dir("shards");
  write_dataset(dir / "a", TokenDtype::uint16, {{1, 2}});
  write_dataset(dir / "b", TokenDtype::int32, {{70000}, {3}});
  std::vector<IndexedDataset> all;
  all.emplace_back(dir / "a");
  all.emplace_back(dir / "b");
  all.reserve(16);
  CHECK(read_whole(all[0], 0) == std::vector<std::int32_t>{1, 2});
  CHECK(read_whole(all[1], 0) == std::vector<std::int32_t>{70000});
  CHECK(read_whole(all[1], 1) == std::vector<std::int32_t>{3});
}

TEST_CASE("indexed dataset: an empty dataset round-trips") {
  ScratchDir dir("shards");
  write_dataset(dir / "empty", TokenDtype::uint16, {});
  IndexedDataset ds(dir / "empty");
  CHECK(ds.num_documents() == 0);
  CHECK(ds.num_tokens() == 0);
}

TEST_CASE("indexed dataset: reads Megatron's own layout (several sequences per document, empty documents)") {
  const auto fixture = test::source_path("tests/data/megatron");
  const auto expected = nlohmann::json::parse(read_file(fixture / "expected.json"));
  for (const char* name : {"u16", "i32"}) {
    CAPTURE(name);
    const auto& want = expected.at(name);
    IndexedDataset ds(fixture / name);
    CHECK(dtype_name(ds.dtype()) == want.at("dtype").get<std::string>());
    CHECK(ds.num_sequences() == want.at("sequence_lengths").size());
    const auto& docs = want.at("documents");
    REQUIRE(ds.num_documents() == docs.size());
    for (std::size_t d = 0; d < docs.size(); ++d) {
      CAPTURE(d);
      CHECK(read_whole(ds, d) == docs[d].get<std::vector<std::int32_t>>());
    }
  }
}

TEST_CASE("indexed dataset: the writer refuses tokens its dtype cannot hold and leaves nothing behind") {
  ScratchDir dir("shards");
  {
    IndexedDatasetWriter writer(dir / "w", TokenDtype::uint16);
    writer.add_document(std::vector<std::int32_t>{65535});
    CHECK_THROWS_WITH_AS(writer.add_document(std::vector<std::int32_t>{1, 65536}),
                         doctest::Contains("token 1 is 65536, outside the uint16 range [0, 65535]"), Error);
    CHECK_THROWS_WITH_AS(writer.add_document(std::vector<std::int32_t>{-1}), doctest::Contains("w.bin"), Error);
  }
  CHECK(fs::is_empty(dir.path()));
  CHECK_THROWS_WITH_AS(IndexedDatasetWriter(dir / "f", TokenDtype::float32),
                       doctest::Contains("cannot write tokens as float32"), Error);
}

TEST_CASE("indexed dataset: finish publishes exactly the .bin and .idx") {
  ScratchDir dir("shards");
  small_dataset(dir);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path())) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"x.bin", "x.idx"});
}

TEST_CASE("indexed dataset: a damaged index or .bin is refused with the file and the problem named") {
  ScratchDir dir("shards");
  auto prefix = small_dataset(dir);
  const auto idx = idx_path(prefix), bin = bin_path(prefix);
  const std::size_t n = 3;
  const std::string idx_name = "x.idx", bin_name = "x.bin";
  REQUIRE(open_error(prefix).empty());

  SUBCASE("missing .idx") {
    fs::remove(idx);
    check_error(open_error(prefix), idx_name, "cannot open");
  }
  SUBCASE("shorter than the header") {
    fs::resize_file(idx, 20);
    check_error(open_error(prefix), idx_name, "truncated: 20 bytes, shorter than the 34-byte header");
  }
  SUBCASE("truncated arrays") {
    fs::resize_file(idx, fs::file_size(idx) - 8);
    check_error(open_error(prefix), idx_name, "truncated: header says 3 sequences and 4 document indices");
  }
  SUBCASE("count far beyond the file") {
    patch_value<std::uint64_t>(idx, kSequencesAt, 1200);
    check_error(open_error(prefix), idx_name, "truncated: header says 1200 sequences");
  }
  SUBCASE("count mismatch leaves unexplained bytes") {
    patch_value<std::uint64_t>(idx, kDocIndicesAt, 3);
    check_error(open_error(prefix), idx_name, "8 unexplained bytes after the document index");
  }
  SUBCASE("multimodal sequence modes") {
    fs::resize_file(idx, fs::file_size(idx) + n);
    check_error(open_error(prefix), idx_name, "3 bytes of multimodal sequence modes");
  }
  SUBCASE("wrong magic") {
    patch_bytes(idx, 0, "TNTIDX", 6);
    check_error(open_error(prefix), idx_name, "bad magic");
  }
  SUBCASE("wrong version") {
    patch_value<std::uint64_t>(idx, kVersionAt, 2);
    check_error(open_error(prefix), idx_name, "unsupported index version 2");
  }
  SUBCASE("unknown dtype code") {
    patch_value<std::uint8_t>(idx, kDtypeAt, 9);
    check_error(open_error(prefix), idx_name, "unknown dtype code 9");
  }
  SUBCASE("float dtype") {
    patch_value<std::uint8_t>(idx, kDtypeAt, 7);
    check_error(open_error(prefix), idx_name, "dtype float32 cannot hold token ids");
  }
  SUBCASE("dtype wider than the data") {
    patch_value<std::uint8_t>(idx, kDtypeAt, 4);
    check_error(open_error(prefix), bin_name, "truncated: the index accounts for 24 bytes of int32 tokens");
  }
  SUBCASE("truncated .bin") {
    fs::resize_file(bin, 10);
    check_error(open_error(prefix), bin_name,
                "truncated: the index accounts for 12 bytes of uint16 tokens, the file "
                "holds 10");
  }
  SUBCASE(".bin with extra bytes") {
    fs::resize_file(bin, 14);
    check_error(open_error(prefix), bin_name, "2 trailing bytes beyond the 12");
  }
  SUBCASE("negative length") {
    patch_value<std::int32_t>(idx, kLengthsAt + 4, -2);
    check_error(open_error(prefix), idx_name, "sequence 1 has negative length -2");
  }
  SUBCASE("pointer out of range") {
    patch_value<std::int64_t>(idx, pointers_at(n) + 2 * 8, 4096);
    check_error(open_error(prefix), idx_name, "sequence 2 points at byte 4096 with 4 bytes, outside");
  }
  SUBCASE("pointer not aligned to the dtype") {
    patch_value<std::int64_t>(idx, pointers_at(n) + 2 * 8, 7);
    check_error(open_error(prefix), idx_name, "sequence 2 starts at byte 7, not a multiple of the 2-byte uint16");
  }
  SUBCASE("overlapping sequences") {
    patch_value<std::int64_t>(idx, pointers_at(n) + 2 * 8, 2);
    check_error(open_error(prefix), idx_name, "sequence 2 starts at byte 2 but the previous sequence ends at byte 8");
  }
  SUBCASE("document index not starting at 0") {
    patch_value<std::int64_t>(idx, doc_index_at(n), 1);
    check_error(open_error(prefix), idx_name, "document index starts at 1, expected 0");
  }
  SUBCASE("document index falling") {
    patch_value<std::int64_t>(idx, doc_index_at(n) + 2 * 8, 0);
    check_error(open_error(prefix), idx_name, "document index 2 is 0, outside [1, 3]");
  }
  SUBCASE("document index not reaching the sequence count") {
    patch_value<std::int64_t>(idx, doc_index_at(n) + 3 * 8, 2);
    check_error(open_error(prefix), idx_name, "document index ends at sequence 2 but there are 3 sequences");
  }
}

TEST_CASE("indexed dataset: int64 tokens that do not fit int32 are refused when read") {
  ScratchDir dir("shards");
  auto prefix = dir / "wide";
  write_dataset(prefix, TokenDtype::int64, {{1, 2}});
  patch_value<std::int64_t>(bin_path(prefix), 8, std::int64_t{1} << 40);
  IndexedDataset ds(prefix);
  std::vector<std::int32_t> out(2);
  CHECK_THROWS_WITH_AS(ds.read_document(0, 0, 2, out.data()), doctest::Contains("does not fit int32"), Error);
}

TEST_CASE("indexed dataset: with a vocabulary size, a read refuses an id outside it, naming the .bin and document") {
  ScratchDir dir("shards-vocab");
  write_dataset(dir / "u16", TokenDtype::uint16, {{1, 2}, {3, 299, 300, 4}});
  IndexedDataset ds(dir / "u16", 300);
  CHECK(read_whole(ds, 0) == std::vector<std::int32_t>{1, 2});
  std::vector<std::int32_t> out(4);
  ds.read_document(1, 0, 2, out.data());
  CHECK_THROWS_WITH_AS(ds.read_document(1, 1, 3, out.data()),
                       (bin_path(dir / "u16").string() +
                        ": document 1, token 2: id 300 is outside the vocabulary [0, 300) (a damaged shard, or one "
                        "prepared with another tokenizer)")
                           .c_str(),
                       Error);
  write_dataset(dir / "i16", TokenDtype::int16, {{5, -1}});
  CHECK_THROWS_WITH_AS(read_whole(IndexedDataset(dir / "i16", 300), 0),
                       doctest::Contains("i16.bin: document 0, token 1: id -1 is outside the vocabulary"), Error);
  write_dataset(dir / "u8", TokenDtype::uint8, {{255, 0}});
  CHECK(read_whole(IndexedDataset(dir / "u8", 300), 0) == std::vector<std::int32_t>{255, 0});
}

TEST_CASE("indexed dataset writer: errors name the shard's files, never their temporaries") {
  ScratchDir dir("shards-temporary");
  fs::path temporary = bin_path(dir / "p");
  temporary += ".tmp-" + std::to_string(::getpid());
  fs::create_directories(temporary);  // the temporary cannot be created as a file, even by root
  CHECK_THROWS_WITH_AS(IndexedDatasetWriter(dir / "p", TokenDtype::uint16),
                       (bin_path(dir / "p").string() + ": cannot create: Is a directory").c_str(), Error);
}

TEST_CASE("dtype names and the vocabulary rule") {
  for (int code = 1; code <= 8; ++code) {
    auto dtype = static_cast<TokenDtype>(code);
    CHECK(dtype_from_name(dtype_name(dtype), "here") == dtype);
  }
  CHECK(dtype_size(TokenDtype::uint16) == 2);
  CHECK(dtype_size(TokenDtype::int64) == 8);
  CHECK_THROWS_WITH_AS(dtype_from_name("uint17", "m.json: shards[0].dtype"),
                       doctest::Contains("m.json: shards[0].dtype: unknown dtype 'uint17'"), Error);
  CHECK(dtype_for_vocab(65536) == TokenDtype::uint16);
  CHECK(dtype_for_vocab(65537) == TokenDtype::int32);
}
