// Corpus manifest: strict JSON parsing (every error names the file and the JSON path), atomic saving, label ids.
#include "data/shard/manifest.h"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "data/shard/indexed_dataset.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/json/json_quote.h"
#include "engine/json/json_reader.h"

namespace diverge::data {

namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr const char* kHashScheme = "xxh3-128:";
constexpr std::size_t kHashHexDigits = 32;

// Validates one parsed manifest; `file_` is what every message starts with, paths are "shards[3].labels" style.
class ManifestParser {
 public:
  explicit ManifestParser(std::string file) : file_(std::move(file)) {}

  Manifest parse(const json& root) const {
    expect_keys(root, "", {"format", "version", "tokenizer", "label_systems", "shards"});
    const auto format = get_string(root, "", "format");
    if (format != Manifest::kFormatName)
      fail("format", "is '" + brief_text(format) + "', expected '" + Manifest::kFormatName + "'");
    const auto version = get_unsigned(root, "", "version");
    if (version != Manifest::kFormatVersion)
      fail("version",
           "is " + std::to_string(version) + ", this build reads version " + std::to_string(Manifest::kFormatVersion));
    Manifest m;
    m.tokenizer = parse_tokenizer(root.at("tokenizer"), "tokenizer");
    m.label_systems = parse_label_systems(root.at("label_systems"), "label_systems");
    const auto& shards = root.at("shards");
    if (!shards.is_array()) fail("shards", "must be an array, got " + std::string(shards.type_name()));
    std::set<std::string> prefixes;
    for (std::size_t i = 0; i < shards.size(); ++i) {
      const std::string path = "shards[" + std::to_string(i) + "]";
      m.shards.push_back(parse_shard(shards[i], path, m.label_systems));
      if (!prefixes.insert(m.shards.back().prefix).second)
        fail(path + ".prefix", "'" + brief_text(m.shards.back().prefix) + "' is listed twice");
    }
    return m;
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw Error(file_, path.empty() ? what : path + ": " + what);
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  // The object must have exactly these keys: a missing one is an error, and so is an unknown one (a typo).
  void expect_keys(const json& obj, const std::string& path, std::initializer_list<const char*> keys) const {
    if (!obj.is_object())
      fail(path.empty() ? "top level" : path, "must be an object, got " + std::string(obj.type_name()));
    std::string expected;
    for (const char* key : keys) {
      if (!obj.contains(key)) fail(path, std::string("missing key '") + key + "'");
      expected += expected.empty() ? key : std::string(", ") + key;
    }
    for (const auto& item : obj.items()) {
      const bool known = std::any_of(keys.begin(), keys.end(), [&](const char* k) { return item.key() == k; });
      if (!known) fail(path, "unknown key '" + brief_text(item.key()) + "' (expected " + expected + ")");
    }
  }

  std::string get_string(const json& obj, const std::string& path, const char* key) const {
    const auto& v = obj.at(key);
    if (!v.is_string()) fail(join(path, key), "must be a string, got " + std::string(v.type_name()));
    return v.get<std::string>();
  }

  std::string get_nonempty_string(const json& obj, const std::string& path, const char* key) const {
    auto s = get_string(obj, path, key);
    if (s.empty()) fail(join(path, key), "must not be empty");
    return s;
  }

  std::uint64_t get_unsigned(const json& obj, const std::string& path, const char* key) const {
    const auto& v = obj.at(key);
    if (!v.is_number_unsigned()) fail(join(path, key), "must be a non-negative integer, got " + quote_json(v));
    return v.get<std::uint64_t>();
  }

  std::string get_hash(const json& obj, const std::string& path, const char* key) const {
    return as_hash(obj.at(key), join(path, key));
  }

  std::string as_hash(const json& v, const std::string& path) const {
    if (!v.is_string()) fail(path, "must be a string, got " + std::string(v.type_name()));
    const auto s = v.get<std::string>();
    const std::string scheme = kHashScheme;
    const bool hex = s.size() == scheme.size() + kHashHexDigits &&
                     std::all_of(s.begin() + static_cast<std::ptrdiff_t>(scheme.size()), s.end(),
                                 [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
    if (s.rfind(scheme, 0) != 0 || !hex)
      fail(path, "'" + brief_text(s) + "' is not a content hash (" + scheme + " and 32 lowercase hex digits)");
    return s;
  }

  TokenizerInfo parse_tokenizer(const json& obj, const std::string& path) const {
    expect_keys(obj, path, {"id", "hash", "vocab_size", "eod_id"});
    TokenizerInfo t;
    t.id = get_nonempty_string(obj, path, "id");
    t.hash = get_nonempty_string(obj, path, "hash");
    t.vocab_size = get_unsigned(obj, path, "vocab_size");
    if (t.vocab_size == 0) fail(join(path, "vocab_size"), "must be positive");
    const auto& eod = obj.at("eod_id");
    const bool eod_ok = eod.is_number_integer() && eod.get<std::int64_t>() >= -1 &&
                        eod.get<std::int64_t>() <= std::numeric_limits<std::int32_t>::max() &&
                        static_cast<std::uint64_t>(eod.get<std::int64_t>() + 1) <= t.vocab_size;
    if (!eod_ok)
      fail(join(path, "eod_id"), "is " + quote_json(eod) + ", expected a token id below vocab_size " +
                                     std::to_string(t.vocab_size) + " or -1 for none");
    t.eod_id = eod.get<std::int32_t>();
    return t;
  }

  std::vector<std::string> parse_label_systems(const json& arr, const std::string& path) const {
    if (!arr.is_array() || arr.empty()) fail(path, "must be a non-empty array of label system names");
    std::vector<std::string> systems;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      const std::string item = path + "[" + std::to_string(i) + "]";
      if (!arr[i].is_string() || arr[i].get<std::string>().empty()) fail(item, "must be a non-empty string");
      const auto name = arr[i].get<std::string>();
      if (std::find(systems.begin(), systems.end(), name) != systems.end())
        fail(item, "'" + brief_text(name) + "' is listed twice");
      systems.push_back(name);
    }
    return systems;
  }

  std::map<std::string, std::string> parse_labels(const json& obj, const std::string& path,
                                                  const std::vector<std::string>& systems) const {
    if (!obj.is_object()) fail(path, "must be an object, got " + std::string(obj.type_name()));
    std::map<std::string, std::string> labels;
    for (const auto& item : obj.items()) {
      if (std::find(systems.begin(), systems.end(), item.key()) == systems.end())
        fail(path, "unknown label system '" + brief_text(item.key()) + "' (not in label_systems)");
      if (!item.value().is_string() || item.value().get<std::string>().empty())
        fail(path + "." + item.key(), "must be a non-empty string");
      labels[item.key()] = item.value().get<std::string>();
    }
    for (const auto& system : systems)
      if (!labels.contains(system)) fail(path, "no label for system '" + system + "'");
    return labels;
  }

  ShardEntry parse_shard(const json& obj, const std::string& path, const std::vector<std::string>& systems) const {
    expect_keys(obj, path,
                {"prefix", "labels", "split", "documents", "tokens", "dtype", "bin_hash", "idx_hash", "chunk_bytes",
                 "bin_chunk_hashes"});
    ShardEntry s;
    s.prefix = get_nonempty_string(obj, path, "prefix");
    const auto extension = std::filesystem::path(s.prefix).extension();
    if (extension == ".bin" || extension == ".idx")
      fail(join(path, "prefix"), "'" + brief_text(s.prefix) + "' must not end in .bin or .idx (it names both files)");
    s.labels = parse_labels(obj.at("labels"), join(path, "labels"), systems);
    s.split = get_string(obj, path, "split");
    if (s.split != "train" && s.split != "val")
      fail(join(path, "split"), "is '" + brief_text(s.split) + "', expected train or val");
    s.documents = get_unsigned(obj, path, "documents");
    s.tokens = get_unsigned(obj, path, "tokens");
    s.dtype = get_string(obj, path, "dtype");
    const auto dtype = dtype_from_name(s.dtype, file_ + ": " + join(path, "dtype"));
    s.bin_hash = get_hash(obj, path, "bin_hash");
    s.idx_hash = get_hash(obj, path, "idx_hash");
    s.chunk_bytes = get_unsigned(obj, path, "chunk_bytes");
    if (s.chunk_bytes == 0) fail(join(path, "chunk_bytes"), "must be positive");
    const auto& chunks = obj.at("bin_chunk_hashes");
    const std::string chunks_path = join(path, "bin_chunk_hashes");
    if (!chunks.is_array()) fail(chunks_path, "must be an array, got " + std::string(chunks.type_name()));
    for (std::size_t i = 0; i < chunks.size(); ++i)
      s.bin_chunk_hashes.push_back(as_hash(chunks[i], chunks_path + "[" + std::to_string(i) + "]"));
    check_chunk_count(s, dtype, chunks_path);
    return s;
  }

  void check_chunk_count(const ShardEntry& s, TokenDtype dtype, const std::string& path) const {
    const std::uint64_t size = dtype_size(dtype);
    if (s.tokens > std::numeric_limits<std::uint64_t>::max() / size) fail(path, "token count overflows a file size");
    const std::uint64_t bin_bytes = s.tokens * size;
    const std::uint64_t chunks = bin_bytes / s.chunk_bytes + (bin_bytes % s.chunk_bytes != 0 ? 1 : 0);
    if (s.bin_chunk_hashes.size() != chunks)
      fail(path, std::to_string(s.bin_chunk_hashes.size()) + " hashes, but " + std::to_string(s.tokens) + " " +
                     s.dtype + " tokens (" + std::to_string(bin_bytes) + " bytes) in chunks of " +
                     std::to_string(s.chunk_bytes) + " bytes make " + std::to_string(chunks));
  }

  std::string file_;
};

ordered_json to_json(const Manifest& m) {
  ordered_json shards = ordered_json::array();
  for (const auto& s : m.shards) {
    // Labels in label_systems order; a label of an unknown system is kept (after them) so that save() reports it.
    ordered_json labels = ordered_json::object();
    for (const auto& system : m.label_systems)
      if (s.labels.contains(system)) labels[system] = s.labels.at(system);
    for (const auto& [system, label] : s.labels)
      if (!labels.contains(system)) labels[system] = label;
    shards.push_back({{"prefix", s.prefix},
                      {"labels", labels},
                      {"split", s.split},
                      {"documents", s.documents},
                      {"tokens", s.tokens},
                      {"dtype", s.dtype},
                      {"bin_hash", s.bin_hash},
                      {"idx_hash", s.idx_hash},
                      {"chunk_bytes", s.chunk_bytes},
                      {"bin_chunk_hashes", s.bin_chunk_hashes}});
  }
  return {{"format", Manifest::kFormatName},
          {"version", Manifest::kFormatVersion},
          {"tokenizer",
           {{"id", m.tokenizer.id},
            {"hash", m.tokenizer.hash},
            {"vocab_size", m.tokenizer.vocab_size},
            {"eod_id", m.tokenizer.eod_id}}},
          {"label_systems", m.label_systems},
          {"shards", shards}};
}

std::string where_of(const Manifest& m) { return m.file.empty() ? std::string("manifest") : m.file.string(); }

}  // namespace

Manifest Manifest::load(const std::filesystem::path& file) {
  Manifest m = ManifestParser(file.string()).parse(read_json_file(file));
  m.file = file;
  m.dir = file.parent_path();
  return m;
}

void Manifest::save(const std::filesystem::path& out) const {
  const auto doc = to_json(*this);
  // The same rules as load(): a manifest that would not load again is never written.
  ManifestParser(out.string()).parse(json::parse(doc.dump()));
  write_file_atomic(out, doc.dump(2) + "\n");
}

std::vector<std::string> Manifest::labels_of(const std::string& label_system) const {
  if (std::find(label_systems.begin(), label_systems.end(), label_system) == label_systems.end()) {
    std::string known;
    for (const auto& s : label_systems) known += (known.empty() ? "" : ", ") + s;
    throw Error(where_of(*this), "unknown label system '" + label_system + "' (label systems: " + known + ")");
  }
  std::set<std::string> labels;
  for (const auto& s : shards) labels.insert(s.labels.at(label_system));
  return {labels.begin(), labels.end()};
}

std::filesystem::path find_manifest(const std::filesystem::path& dir_or_manifest) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir_or_manifest, ec)) {
    auto file = dir_or_manifest / Manifest::kDefaultName;
    check(std::filesystem::is_regular_file(file, ec), dir_or_manifest.string(),
          std::string("no ") + Manifest::kDefaultName + " in this directory");
    return file;
  }
  check(std::filesystem::exists(dir_or_manifest, ec), dir_or_manifest.string(), "no such file or directory");
  return dir_or_manifest;
}

}  // namespace diverge::data
