// Tests for the safetensors format: round trips, files from an independent writer, and every malformed header.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/checkpoint/safetensors_reader.h"
#include "engine/checkpoint/safetensors_writer.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/hash.h"
#include "tests/checkpoint_support.h"
#include "tests/support.h"

using namespace diverge;
using diverge::test::error_of;
using diverge::test::safetensors_bytes;
using diverge::test::ScratchDir;
using json = nlohmann::json;

namespace {

const fs::path kFixtureDir = diverge::test::source_path("tests/data/safetensors");

NamedTensor tensor(std::string name, SafeDtype dtype, std::vector<std::int64_t> shape, const void* data) {
  NamedTensor t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = data;
  return t;
}

std::string hex_of(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    out.push_back(kDigits[std::to_integer<unsigned>(b) >> 4]);
    out.push_back(kDigits[std::to_integer<unsigned>(b) & 15]);
  }
  return out;
}

std::string bytes_of_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

template <class T>
T load_as(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// The tensor's elements as JSON numbers, in the fixture's convention: F16 and BF16 as their raw uint16 bits.
json decoded_values(const TensorEntry& entry, std::span<const std::byte> bytes) {
  json values = json::array();
  const std::size_t size = safe_dtype_bytes(entry.dtype);
  for (std::size_t at = 0; at < bytes.size(); at += size) {
    const std::byte* p = bytes.data() + at;
    switch (entry.dtype) {
      case SafeDtype::f32:
        values.push_back(static_cast<double>(load_as<float>(p)));
        break;
      case SafeDtype::f64:
        values.push_back(load_as<double>(p));
        break;
      case SafeDtype::i32:
        values.push_back(load_as<std::int32_t>(p));
        break;
      case SafeDtype::i64:
        values.push_back(load_as<std::int64_t>(p));
        break;
      case SafeDtype::f16:
      case SafeDtype::bf16:
        values.push_back(load_as<std::uint16_t>(p));
        break;
      case SafeDtype::u8:
      case SafeDtype::boolean:
        values.push_back(load_as<std::uint8_t>(p));
        break;
      default:
        FAIL("fixture dtype without a decoder: ", safe_dtype_name(entry.dtype));
    }
  }
  return values;
}

std::uint64_t header_length(const fs::path& path) {
  std::uint64_t length = 0;
  std::memcpy(&length, read_file(path).data(), sizeof length);
  return length;
}

void check_against_fixture(const std::string& file_name) {
  const json expected = json::parse(read_file(kFixtureDir / "expected.json"))[file_name];
  const SafetensorsFile file(kFixtureDir / file_name);
  CAPTURE(file_name);
  CHECK(header_length(file.path()) == expected["header_bytes"].get<std::uint64_t>());
  CHECK(json(file.metadata()) == expected["metadata"]);
  REQUIRE(file.tensors().size() == expected["tensors"].size());
  for (const auto& [name, want] : expected["tensors"].items()) {
    CAPTURE(name);
    const TensorEntry& entry = file.tensor(name);
    CHECK(safe_dtype_name(entry.dtype) == want["dtype"].get<std::string>());
    CHECK(json(entry.shape) == want["shape"]);
    CHECK(json::array({entry.begin, entry.end}) == want["data_offsets"]);
    CHECK(hex_of(file.data(entry)) == want["hex"].get<std::string>());
    CHECK(decoded_values(entry, file.data(entry)) == want["values"]);
  }
}

// The Error that opening these bytes as a safetensors file throws.
std::string open_error(const ScratchDir& dir, const std::string& bytes) {
  const fs::path path = dir / "bad.safetensors";
  write_file_atomic(path, bytes);
  return error_of([&] { SafetensorsFile file(path); });
}

std::string f32_entry(const std::string& name, const std::string& shape, const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
}

}  // namespace

TEST_CASE("safetensors round trip: f32, i32, bf16 bits, 0-d and empty tensors, metadata") {
  ScratchDir dir("safetensors-roundtrip");
  std::vector<float> weights(12);
  for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<float>(i) * 0.5f - 1.0f;
  const std::vector<std::int32_t> ids{0, -1, std::numeric_limits<std::int32_t>::max(),
                                      std::numeric_limits<std::int32_t>::min(), 7};
  // 1, -2, +inf, a NaN, the smallest subnormal, -0: bf16 is stored as bits and must come back as the same bits.
  const std::vector<std::uint16_t> halves{0x3f80, 0xc000, 0x7f80, 0x7fc1, 0x0001, 0x8000};
  const float scalar = 42.5f;
  const std::vector<NamedTensor> tensors{
      tensor("model.layers.0.self_attn.q_proj.weight", SafeDtype::f32, {3, 4}, weights.data()),
      tensor("ids", SafeDtype::i32, {5}, ids.data()),
      tensor("model.layers.0.mlp.experts.3.down_proj.weight", SafeDtype::bf16, {2, 3}, halves.data()),
      tensor("scalar", SafeDtype::f32, {}, &scalar),
      tensor("empty.rows", SafeDtype::f32, {0, 7}, nullptr),
      tensor("empty.cols", SafeDtype::i32, {3, 0}, nullptr),
  };
  const std::map<std::string, std::string> metadata{{"format", "pt"}, {"note", "round trip"}};
  const fs::path path = dir / "t.safetensors";
  const WrittenFile written = write_safetensors(path, tensors, metadata);

  const std::string raw = read_file(path);
  CHECK(written.bytes == raw.size());
  CHECK(written.hash == content_hash(raw));
  CHECK(header_length(path) % 8 == 0);

  const SafetensorsFile file(path, written.hash);
  CHECK(file.metadata() == metadata);
  REQUIRE(file.tensors().size() == tensors.size());
  for (const auto& t : tensors) {
    CAPTURE(t.name);
    const TensorEntry& entry = file.tensor(t.name);
    CHECK(entry.dtype == t.dtype);
    CHECK(entry.shape == t.shape);
    const auto bytes = file.data(entry);
    REQUIRE(bytes.size() == tensor_byte_size(t, "test"));
    if (!bytes.empty()) {
      CHECK(std::memcmp(bytes.data(), t.data, bytes.size()) == 0);
      CHECK(reinterpret_cast<std::uintptr_t>(bytes.data()) % safe_dtype_bytes(t.dtype) == 0);
    }
  }
  float back = 0;
  file.copy_to("scalar", &back, sizeof back);
  CHECK(back == scalar);
  CHECK(error_of([&] { file.copy_to("ids", &back, sizeof back); }).find("is 20 bytes, the destination holds 4") !=
        std::string::npos);
  CHECK(error_of([&] { (void)file.tensor("nope"); }) == path.string() + ": no tensor named 'nope'");
  CHECK(file.find("nope") == nullptr);
}

TEST_CASE("safetensors reader: a file laid out as the reference writer lays it out") {
  check_against_fixture("reference_layout.safetensors");
}

TEST_CASE("safetensors reader: indented header, header order unlike data order, unaligned data, no metadata") {
  check_against_fixture("scrambled.safetensors");
}

TEST_CASE("safetensors writer: the same bytes as the reference layout for the same tensors") {
  ScratchDir dir("safetensors-reference");
  const json expected = json::parse(read_file(kFixtureDir / "expected.json"))["reference_layout.safetensors"];
  std::vector<std::string> buffers;  // (tensors): each tensor's bytes, kept alive for the writer
  buffers.reserve(expected["tensors"].size());
  std::vector<NamedTensor> tensors;
  for (const auto& [name, want] : expected["tensors"].items()) {
    buffers.push_back(bytes_of_hex(want["hex"].get<std::string>()));
    tensors.push_back(tensor(name, *parse_safe_dtype(want["dtype"].get<std::string>()),
                             want["shape"].get<std::vector<std::int64_t>>(), buffers.back().data()));
  }
  const fs::path path = dir / "ours.safetensors";
  write_safetensors(path, tensors, expected["metadata"].get<std::map<std::string, std::string>>());
  CHECK(read_file(path) == read_file(kFixtureDir / "reference_layout.safetensors"));
}

TEST_CASE("safetensors reader: every malformed file is a one-line error naming the file and the problem") {
  ScratchDir dir("safetensors-malformed");
  const std::string four(4, '\0'), eight(8, '\0'), twelve(12, '\0');
  const std::string w4 = f32_entry("w", "[1]", "[0,4]");
  struct Case {
    const char* label;
    std::string bytes;
    std::string fragment;
  };
  const std::vector<Case> cases{
      {"shorter than the length field", "abc", "file is 3 bytes, too short for the 8-byte header length"},
      {"length past the end", safetensors_bytes("{}", "", 100),
       "header length 100 runs past the end of the 10-byte file"},
      {"length over the limit", safetensors_bytes("{}", "", 200'000'000), "exceeds the format's limit of 100000000"},
      {"empty header", safetensors_bytes("", ""), "header does not start with '{'"},
      {"not an object", safetensors_bytes("[]", ""), "header does not start with '{'"},
      {"invalid JSON", safetensors_bytes("{\"w\":{\"dtype\":", ""), "header: malformed JSON at column 15: "},
      {"invalid UTF-8", safetensors_bytes("{\"\xff\":{}}", ""), "header: malformed JSON at column 3: "},
      {"unknown dtype", safetensors_bytes("{\"w\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", four),
       "tensor 'w': dtype \"F17\" is not a safetensors dtype"},
      {"lower-case dtype", safetensors_bytes("{\"w\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", four),
       "tensor 'w': dtype \"f32\" is not a safetensors dtype"},
      {"dtype not a string", safetensors_bytes("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", four),
       "tensor 'w': dtype is 4, expected a string"},
      {"shape not an array", safetensors_bytes("{" + f32_entry("w", "3", "[0,12]") + "}", twelve),
       "tensor 'w': shape is 3, expected an array of integers"},
      {"negative dimension", safetensors_bytes("{" + f32_entry("w", "[-1]", "[0,4]") + "}", four),
       "tensor 'w': shape[0] is -1, expected a non-negative integer"},
      {"fractional dimension", safetensors_bytes("{" + f32_entry("w", "[2.5]", "[0,4]") + "}", four),
       "tensor 'w': shape[0] is 2.5, expected a non-negative integer"},
      {"size overflow", safetensors_bytes("{" + f32_entry("w", "[4611686018427387904,4]", "[0,0]") + "}", ""),
       "tensor 'w': shape [4611686018427387904,4] is too large (byte size overflows)"},
      {"span unlike shape", safetensors_bytes("{" + f32_entry("w", "[2]", "[0,4]") + "}", four),
       "tensor 'w': shape [2] of F32 is 8 bytes but data_offsets [0,4] span 4"},
      {"one offset", safetensors_bytes("{" + f32_entry("w", "[1]", "[0]") + "}", four),
       "tensor 'w': data_offsets is [0], expected [begin, end]"},
      {"offset too large", safetensors_bytes("{" + f32_entry("w", "[1]", "[0,1e30]") + "}", four),
       "tensor 'w': data_offsets[1] is 1e+30, expected a non-negative integer"},
      {"reversed offsets", safetensors_bytes("{" + f32_entry("w", "[0]", "[4,0]") + "}", four),
       "tensor 'w': data_offsets [4,0] end before they begin"},
      {"truncated data", safetensors_bytes("{" + f32_entry("w", "[2]", "[0,8]") + "}", four),
       "tensor 'w': bytes [0,8) run past the end of the data section (4 bytes; truncated file?)"},
      {"overlap",
       safetensors_bytes("{" + f32_entry("a", "[2]", "[0,8]") + "," + f32_entry("b", "[1]", "[4,8]") + "}", eight),
       "tensor 'b': bytes [4,8) overlap tensor 'a' at [0,8)"},
      {"gap",
       safetensors_bytes("{" + f32_entry("a", "[1]", "[0,4]") + "," + f32_entry("b", "[1]", "[8,12]") + "}", twelve),
       "data bytes [4,8) belong to no tensor (gap before tensor 'b')"},
      {"uncovered tail", safetensors_bytes("{" + w4 + "}", eight),
       "the last 4 bytes of the data section belong to no tensor"},
      {"duplicate tensor", safetensors_bytes("{" + w4 + "," + w4 + "}", four), "header: w: duplicate key"},
      {"duplicate field",
       safetensors_bytes("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", four),
       "header: w.dtype: duplicate key"},
      {"missing field", safetensors_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", four),
       "tensor 'w': missing 'data_offsets'"},
      {"unknown field",
       safetensors_bytes("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"offsets\":[0,4]}}", four),
       "tensor 'w': unknown key 'offsets'"},
      {"entry not an object", safetensors_bytes("{\"w\":[1,2]}", ""), "tensor 'w' is [1,2], expected"},
      {"empty name", safetensors_bytes("{" + f32_entry("", "[1]", "[0,4]") + "}", four), "a tensor has an empty name"},
      {"metadata not an object", safetensors_bytes("{\"__metadata__\":\"pt\"}", ""),
       "__metadata__ is \"pt\", expected an object of strings"},
      {"metadata value not a string", safetensors_bytes("{\"__metadata__\":{\"format\":1}}", ""),
       "__metadata__.format is 1, expected a string"},
      {"nested too deep",
       safetensors_bytes("{\"w\":" + std::string(100000, '[') + std::string(100000, ']') + "}", ""),
       "header: w[0][0][0]"},
      {"number beyond double", safetensors_bytes("{" + f32_entry("w", "[1]", "[0,4e999]") + "}", four),
       "header: w.data_offsets[1]: number 4e999 is out of range"},
      {"huge name", safetensors_bytes("{" + f32_entry(std::string(1 << 20, 'n'), "[2]", "[0,4]") + "}", four),
       "tensor '" + std::string(60, 'n') + "...': shape [2] of F32 is 8 bytes"},
  };
  const std::string prefix = (dir / "bad.safetensors").string() + ": ";
  for (const auto& c : cases) {
    CAPTURE(c.label);
    const std::string message = open_error(dir, c.bytes);
    CAPTURE(message);
    CHECK(message.starts_with(prefix));
    CHECK(message.find(c.fragment) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
    CHECK(message.size() < prefix.size() + 200);
  }
}

TEST_CASE("safetensors reader: a content hash mismatch is reported before anything else") {
  ScratchDir dir("safetensors-hash");
  const float value = 1.0f;
  const fs::path path = dir / "t.safetensors";
  const WrittenFile written = write_safetensors(path, std::vector{tensor("w", SafeDtype::f32, {1}, &value)});
  CHECK(error_of([&] { SafetensorsFile file(path, written.hash); }).empty());
  std::string raw = read_file(path);
  raw[3] = '\x7f';  // header length now absurd: the hash still speaks first
  write_file_atomic(path, raw);
  const std::string message = error_of([&] { SafetensorsFile file(path, written.hash); });
  CHECK(message.starts_with(path.string() + ": content hash "));
  CHECK(message.find("does not match the recorded " + written.hash + " (file damaged or replaced)") !=
        std::string::npos);
}

TEST_CASE("safetensors writer: bad tensor lists are errors naming the file") {
  ScratchDir dir("safetensors-writer-errors");
  const fs::path path = dir / "t.safetensors";
  const float value = 0.0f;
  auto write_error = [&](std::vector<NamedTensor> tensors) {
    return error_of([&] { write_safetensors(path, tensors); });
  };
  const std::string at = path.string() + ": ";
  CHECK(write_error({tensor("a", SafeDtype::f32, {1}, &value), tensor("a", SafeDtype::f32, {1}, &value)}) ==
        at + "tensor 'a' is given twice");
  CHECK(write_error({tensor("", SafeDtype::f32, {1}, &value)}) == at + "a tensor has an empty name");
  CHECK(write_error({tensor("__metadata__", SafeDtype::f32, {1}, &value)}) ==
        at + "'__metadata__' is reserved and cannot name a tensor");
  CHECK(write_error({tensor("a", SafeDtype::f32, {2}, nullptr)}) == at + "tensor 'a' has no data");
  CHECK(write_error({tensor("a", SafeDtype::f32, {-2}, &value)}) ==
        at + "tensor 'a': shape [-2] has a negative dimension");
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("named_tensor: an engine tensor on the host becomes a checkpoint tensor; one on the GPU is refused") {
  std::vector<std::uint16_t> bits(6);
  Tensor t;
  t.data = bits.data();
  t.dtype = DType::bf16;
  t.ndim = 2;
  t.shape = {2, 3, 0, 0};
  const NamedTensor named = named_tensor("model.norm.weight", t);
  CHECK(named.name == "model.norm.weight");
  CHECK(named.dtype == SafeDtype::bf16);
  CHECK(named.shape == std::vector<std::int64_t>{2, 3});
  CHECK(named.data == bits.data());
  t.device = Device::cuda;
  CHECK(error_of([&] { (void)named_tensor("w", t); }) ==
        "checkpoint: tensor 'w' is on the GPU; copy it to host memory before saving");
}
