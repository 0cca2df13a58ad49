// Megatron-LM MMapIndexedDataset layout: the writer (temp files + rename) and the validating memory-mapped reader.
#include "data/shard/indexed_dataset.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <limits>
#include <optional>

#include "engine/error.h"
#include "engine/json/json_quote.h"

namespace diverge::data {

// Megatron writes its index with numpy's native byte order and every Megatron machine is little-endian; so are we.
static_assert(std::endian::native == std::endian::little, "indexed datasets are little-endian");

namespace {

constexpr std::array<char, 9> kMagic = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
constexpr std::uint64_t kVersion = 1;
// magic (9) + version u64 + dtype code u8 + sequence count u64 + document-index count u64
constexpr std::size_t kHeaderBytes = 9 + 8 + 1 + 8 + 8;
constexpr std::size_t kLengthBytes = sizeof(std::int32_t);
constexpr std::size_t kPointerBytes = sizeof(std::int64_t);
constexpr std::size_t kDocIndexBytes = sizeof(std::int64_t);

std::string str(const std::filesystem::path& p) { return p.string(); }

std::filesystem::path with_suffix(const std::filesystem::path& prefix, const char* suffix) {
  std::filesystem::path p = prefix;
  p += suffix;
  return p;
}

std::filesystem::path temp_name(const std::filesystem::path& final_path) {
  return with_suffix(final_path, (".tmp-" + std::to_string(::getpid())).c_str());
}

bool is_integer_dtype(TokenDtype dtype) { return dtype != TokenDtype::float32 && dtype != TokenDtype::float64; }

template <typename T>
T read_at(const std::uint8_t* base, std::size_t offset) {
  T value;
  std::memcpy(&value, base + offset, sizeof(T));
  return value;
}

// Forces a closed file's data to disk, so that the rename that follows never publishes a name for lost bytes.
// Errors name the file the temporary becomes.
void sync_to_disk(const std::filesystem::path& tmp, const std::filesystem::path& final_path) {
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(str(final_path), std::string("cannot reopen to sync: ") + std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw Error(str(final_path), std::string("fsync failed: ") + std::strerror(errno));
}

void rename_into_place(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec) throw Error(str(to), "cannot rename the finished file into place: " + ec.message());
}

template <typename T>
void append_raw(std::vector<unsigned char>& out, const T& value) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(&value);
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

// Converts tokens to the dtype's little-endian bytes, refusing any token the dtype cannot hold exactly.
template <typename T>
void encode_tokens(std::span<const std::int32_t> tokens, std::vector<unsigned char>& out, TokenDtype dtype,
                   std::uint64_t document, const std::filesystem::path& bin) {
  constexpr auto lo = static_cast<std::int64_t>(std::numeric_limits<T>::min());
  constexpr auto hi = static_cast<std::int64_t>(std::numeric_limits<T>::max());
  out.resize(tokens.size() * sizeof(T));
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    std::int64_t token = tokens[i];
    if (token < lo || token > hi)
      throw Error(str(bin), "document " + std::to_string(document) + " token " + std::to_string(i) + " is " +
                                std::to_string(token) + ", outside the " + dtype_name(dtype) + " range [" +
                                std::to_string(lo) + ", " + std::to_string(hi) + "]");
    T value = static_cast<T>(token);
    std::memcpy(out.data() + i * sizeof(T), &value, sizeof(T));
  }
}

// The ids a stored token may hold: int32's range, or [0, vocab_size) when the vocabulary is known.
struct IdRange {
  std::int64_t lo = std::numeric_limits<std::int32_t>::min();
  std::int64_t hi = std::numeric_limits<std::int32_t>::max();
  std::optional<std::uint64_t> vocab_size;

  explicit IdRange(std::optional<std::uint64_t> vocab) : vocab_size(vocab) {
    if (!vocab.has_value()) return;
    lo = 0;
    hi = static_cast<std::int64_t>(std::min<std::uint64_t>(*vocab, std::uint64_t{1} << 31) - 1);
  }
  // True when every value of T is an id here, so that reading T needs no check at all.
  template <typename T>
  bool holds_every() const {
    return static_cast<std::int64_t>(std::numeric_limits<T>::min()) >= lo &&
           static_cast<std::int64_t>(std::numeric_limits<T>::max()) <= hi;
  }
  std::string refusal(std::int64_t id) const {
    const bool in_vocabulary = vocab_size.has_value() && id >= 0 && static_cast<std::uint64_t>(id) < *vocab_size;
    if (!vocab_size.has_value() || in_vocabulary) return "id " + std::to_string(id) + " does not fit int32";
    return "id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(*vocab_size) +
           ") (a damaged shard, or one prepared with another tokenizer)";
  }
};

// A token of a document read that holds no id: its place in the read and its value.
struct BadToken {
  std::uint64_t index;
  std::int64_t id;
};

// Widens stored tokens to int32, checking each against the id range: one comparison folded into the copy, and
// none for a dtype whose every value is an id. The offending token is searched for only once one is known.
template <typename T>
std::optional<BadToken> decode_tokens(const T* tokens, std::uint64_t count, std::int32_t* out, const IdRange& ids) {
  if (ids.holds_every<T>()) {
    for (std::uint64_t i = 0; i < count; ++i) out[i] = static_cast<std::int32_t>(tokens[i]);
    return std::nullopt;
  }
  bool outside = false;
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto id = static_cast<std::int64_t>(tokens[i]);
    outside |= id < ids.lo || id > ids.hi;
    out[i] = static_cast<std::int32_t>(tokens[i]);
  }
  for (std::uint64_t i = 0; outside && i < count; ++i) {
    const auto id = static_cast<std::int64_t>(tokens[i]);
    if (id < ids.lo || id > ids.hi) return BadToken{i, id};
  }
  return std::nullopt;
}

}  // namespace

std::size_t dtype_size(TokenDtype dtype) {
  switch (dtype) {
    case TokenDtype::uint8:
    case TokenDtype::int8: return 1;
    case TokenDtype::int16:
    case TokenDtype::uint16: return 2;
    case TokenDtype::int32:
    case TokenDtype::float32: return 4;
    case TokenDtype::int64:
    case TokenDtype::float64: return 8;
  }
  throw Error("dtype_size", "invalid dtype code " + std::to_string(static_cast<int>(dtype)));
}

std::string dtype_name(TokenDtype dtype) {
  switch (dtype) {
    case TokenDtype::uint8: return "uint8";
    case TokenDtype::int8: return "int8";
    case TokenDtype::int16: return "int16";
    case TokenDtype::int32: return "int32";
    case TokenDtype::int64: return "int64";
    case TokenDtype::float64: return "float64";
    case TokenDtype::float32: return "float32";
    case TokenDtype::uint16: return "uint16";
  }
  throw Error("dtype_name", "invalid dtype code " + std::to_string(static_cast<int>(dtype)));
}

TokenDtype dtype_from_name(const std::string& name, const std::string& where) {
  for (int code = 1; code <= 8; ++code) {
    auto dtype = static_cast<TokenDtype>(code);
    if (dtype_name(dtype) == name) return dtype;
  }
  throw Error(where, "unknown dtype '" + brief_text(name) +
                         "' (expected uint8, int8, int16, uint16, int32, int64, float32 or "
                         "float64)");
}

TokenDtype dtype_for_vocab(std::uint64_t vocab_size) {
  return vocab_size <= 65536 ? TokenDtype::uint16 : TokenDtype::int32;
}

std::filesystem::path idx_path(const std::filesystem::path& prefix) { return with_suffix(prefix, ".idx"); }
std::filesystem::path bin_path(const std::filesystem::path& prefix) { return with_suffix(prefix, ".bin"); }

// ---- writer ----

IndexedDatasetWriter::IndexedDatasetWriter(const std::filesystem::path& prefix, TokenDtype dtype)
    : prefix_(prefix),
      bin_file_(bin_path(prefix)),
      bin_tmp_(temp_name(bin_file_)),
      idx_tmp_(temp_name(idx_path(prefix))),
      dtype_(dtype) {
  check(is_integer_dtype(dtype), str(bin_file_),
        "cannot write tokens as " + dtype_name(dtype) + " (float dtypes cannot hold token ids)");
  if (prefix.has_parent_path()) std::filesystem::create_directories(prefix.parent_path());
  bin_.open(bin_tmp_, std::ios::binary | std::ios::trunc);
  if (!bin_) throw Error(str(bin_file_), std::string("cannot create: ") + std::strerror(errno));
}

IndexedDatasetWriter::~IndexedDatasetWriter() {
  if (finished_) return;
  bin_.close();
  std::error_code ec;
  std::filesystem::remove(bin_tmp_, ec);
  std::filesystem::remove(idx_tmp_, ec);
}

void IndexedDatasetWriter::add_document(std::span<const std::int32_t> tokens) {
  // Messages are built only on failure: this runs once per document, millions of times.
  if (finished_) throw Error(str(bin_file_), "add_document after finish()");
  const std::uint64_t document = lengths_.size();
  if (tokens.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw Error(str(bin_file_), "document " + std::to_string(document) + " has " + std::to_string(tokens.size()) +
                                    " tokens, more than an int32 sequence length can record");
  visit_token_type(dtype_, bin_file_,
                   [&](auto type) { encode_tokens<decltype(type)>(tokens, scratch_, dtype_, document, bin_file_); });
  bin_.write(reinterpret_cast<const char*>(scratch_.data()), static_cast<std::streamsize>(scratch_.size()));
  if (!bin_) throw Error(str(bin_file_), std::string("write failed: ") + std::strerror(errno));
  lengths_.push_back(static_cast<std::int32_t>(tokens.size()));
  tokens_ += tokens.size();
}

void IndexedDatasetWriter::finish() {
  check(!finished_, str(idx_path(prefix_)), "finish() called twice");
  bin_.close();
  if (!bin_) throw Error(str(bin_file_), std::string("close failed: ") + std::strerror(errno));
  sync_to_disk(bin_tmp_, bin_file_);

  const std::uint64_t n = lengths_.size();
  std::vector<unsigned char> header;
  header.insert(header.end(), kMagic.begin(), kMagic.end());
  append_raw(header, kVersion);
  append_raw(header, static_cast<std::uint8_t>(dtype_));
  append_raw(header, n);      // sequences: one per document
  append_raw(header, n + 1);  // document indices: Megatron's leading 0 plus one end per document
  std::ofstream idx(idx_tmp_, std::ios::binary | std::ios::trunc);
  if (!idx) throw Error(str(idx_path(prefix_)), std::string("cannot create: ") + std::strerror(errno));
  idx.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
  idx.write(reinterpret_cast<const char*>(lengths_.data()), static_cast<std::streamsize>(n * kLengthBytes));
  std::vector<std::int64_t> column;  // (n) pointers, then (n + 1) document indices
  column.reserve(n + 1);
  std::int64_t offset = 0;
  for (std::int32_t length : lengths_) {
    column.push_back(offset);
    offset += static_cast<std::int64_t>(length) * static_cast<std::int64_t>(dtype_size(dtype_));
  }
  idx.write(reinterpret_cast<const char*>(column.data()), static_cast<std::streamsize>(n * kPointerBytes));
  column.clear();
  for (std::uint64_t i = 0; i <= n; ++i) column.push_back(static_cast<std::int64_t>(i));
  idx.write(reinterpret_cast<const char*>(column.data()), static_cast<std::streamsize>((n + 1) * kDocIndexBytes));
  idx.close();
  if (!idx) throw Error(str(idx_path(prefix_)), std::string("write failed: ") + std::strerror(errno));
  sync_to_disk(idx_tmp_, idx_path(prefix_));

  // The .idx is published last and any older one is removed first: a prefix whose .idx exists is always whole.
  std::error_code ec;
  std::filesystem::remove(idx_path(prefix_), ec);
  rename_into_place(bin_tmp_, bin_path(prefix_));
  rename_into_place(idx_tmp_, idx_path(prefix_));
  finished_ = true;
}

// ---- reader ----

IndexedDataset::IndexedDataset(const std::filesystem::path& prefix, std::optional<std::uint64_t> vocab_size)
    : prefix_(prefix), idx_(idx_path(prefix)), bin_(bin_path(prefix)), vocab_size_(vocab_size) {
  read_header();
  check_index_size();
  const std::uint8_t* base = idx_.data() + kHeaderBytes;
  const auto n = static_cast<std::size_t>(header_sequences_);
  lengths_ = UnalignedArray<std::int32_t>(base, n);
  pointers_ = UnalignedArray<std::int64_t>(base + n * kLengthBytes, n);
  doc_index_ = UnalignedArray<std::int64_t>(base + n * (kLengthBytes + kPointerBytes),
                                            static_cast<std::size_t>(header_doc_indices_));
  check_sequences();
  check_documents();
}

void IndexedDataset::read_header() {
  const std::string where = str(idx_.path());
  check(idx_.size() >= kHeaderBytes, where,
        "truncated: " + std::to_string(idx_.size()) + " bytes, shorter than the " + std::to_string(kHeaderBytes) +
            "-byte header");
  check(std::memcmp(idx_.data(), kMagic.data(), kMagic.size()) == 0, where,
        "not a Megatron indexed dataset index (bad magic, expected \"MMIDIDX\\x00\\x00\")");
  const auto version = read_at<std::uint64_t>(idx_.data(), 9);
  check(version == kVersion, where, "unsupported index version " + std::to_string(version) + " (expected 1)");
  const auto code = read_at<std::uint8_t>(idx_.data(), 17);
  check(code >= 1 && code <= 8, where, "unknown dtype code " + std::to_string(code) + " (Megatron's are 1 to 8)");
  dtype_ = static_cast<TokenDtype>(code);
  check(is_integer_dtype(dtype_), where, "dtype " + dtype_name(dtype_) + " cannot hold token ids");
  header_sequences_ = read_at<std::uint64_t>(idx_.data(), 18);
  header_doc_indices_ = read_at<std::uint64_t>(idx_.data(), 26);
}

void IndexedDataset::check_index_size() const {
  const std::string where = str(idx_.path());
  const std::uint64_t body = idx_.size() - kHeaderBytes;
  const std::uint64_t per_sequence = kLengthBytes + kPointerBytes;
  // Dividing before multiplying keeps a garbage count from overflowing the size arithmetic.
  const bool fits = header_sequences_ <= body / per_sequence && header_doc_indices_ <= body / kDocIndexBytes &&
                    header_sequences_ * per_sequence + header_doc_indices_ * kDocIndexBytes <= body;
  if (!fits)
    throw Error(where, "truncated: header says " + std::to_string(header_sequences_) + " sequences and " +
                           std::to_string(header_doc_indices_) + " document indices, file holds room for " +
                           std::to_string(body / per_sequence) + " sequences");
  check(header_doc_indices_ >= 1, where, "empty document index (Megatron's always starts with 0)");
  const std::uint64_t trailing = body - header_sequences_ * per_sequence - header_doc_indices_ * kDocIndexBytes;
  if (trailing == 0) return;
  // Newer Megatron appends one int8 "mode" per sequence for multimodal data; anything else is damage.
  check(trailing != header_sequences_, where,
        "the index carries " + std::to_string(trailing) +
            " bytes of multimodal sequence modes; only text datasets are supported");
  throw Error(where, std::to_string(trailing) + " unexplained bytes after the document index");
}

void IndexedDataset::check_sequences() {
  const std::string where = str(idx_.path());
  const std::uint64_t token_bytes = dtype_size(dtype_);
  const std::uint64_t bin_size = bin_.size();
  // The total first: a .bin cut short or grown is then reported as such, not as one odd pointer. The sum saturates
  // so that a garbage index cannot wrap it around to a plausible size.
  constexpr std::uint64_t kSaturated = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t expected_bytes = 0;
  for (std::size_t i = 0; i < lengths_.size(); ++i) {
    const std::int32_t length = lengths_[i];
    if (length < 0)
      throw Error(where, "sequence " + std::to_string(i) + " has negative length " + std::to_string(length));
    const std::uint64_t bytes = static_cast<std::uint64_t>(length) * token_bytes;
    expected_bytes = bytes > kSaturated - expected_bytes ? kSaturated : expected_bytes + bytes;
  }
  check(expected_bytes <= bin_size, str(bin_.path()),
        "truncated: the index accounts for " + std::to_string(expected_bytes) + " bytes of " + dtype_name(dtype_) +
            " tokens, the file holds " + std::to_string(bin_size));
  check(expected_bytes == bin_size, str(bin_.path()),
        std::to_string(bin_size - expected_bytes) + " trailing bytes beyond the " + std::to_string(expected_bytes) +
            " the index accounts for");

  // The loops throw directly rather than through check(): a message is then built only on failure, not per sequence.
  std::uint64_t next = 0;  // where the next sequence must start: Megatron's writer lays them end to end
  for (std::size_t i = 0; i < lengths_.size(); ++i) {
    const std::int64_t pointer = pointers_[i];
    const std::uint64_t bytes = static_cast<std::uint64_t>(lengths_[i]) * token_bytes;
    const auto start = static_cast<std::uint64_t>(pointer);
    if (pointer < 0 || start > bin_size || bytes > bin_size - start)
      throw Error(where, "sequence " + std::to_string(i) + " points at byte " + std::to_string(pointer) + " with " +
                             std::to_string(bytes) + " bytes, outside " + str(bin_.path()) + " (" +
                             std::to_string(bin_size) + " bytes)");
    if (start % token_bytes != 0)
      throw Error(where, "sequence " + std::to_string(i) + " starts at byte " + std::to_string(pointer) +
                             ", not a multiple of the " + std::to_string(token_bytes) + "-byte " + dtype_name(dtype_) +
                             " token");
    if (start != next)
      throw Error(where, "sequence " + std::to_string(i) + " starts at byte " + std::to_string(pointer) +
                             " but the previous sequence ends at byte " + std::to_string(next));
    next += bytes;
  }
  total_tokens_ = bin_size / token_bytes;
}

void IndexedDataset::check_documents() {
  const std::string where = str(idx_.path());
  const auto sequences = static_cast<std::int64_t>(lengths_.size());
  check(doc_index_[0] == 0, where, "document index starts at " + std::to_string(doc_index_[0]) + ", expected 0");
  doc_tokens_.resize(doc_index_.size() - 1);
  for (std::size_t d = 0; d + 1 < doc_index_.size(); ++d) {
    const std::int64_t first = doc_index_[d], end = doc_index_[d + 1];
    if (end < first || end > sequences)
      throw Error(where, "document index " + std::to_string(d + 1) + " is " + std::to_string(end) + ", outside [" +
                             std::to_string(first) + ", " + std::to_string(sequences) + "] (indices must rise to the " +
                             std::to_string(sequences) + " sequences)");
    std::uint64_t tokens = 0;
    for (auto s = static_cast<std::size_t>(first); s < static_cast<std::size_t>(end); ++s)
      tokens += static_cast<std::uint64_t>(lengths_[s]);
    doc_tokens_[d] = tokens;
  }
  const std::int64_t last = doc_index_[doc_index_.size() - 1];
  check(last == sequences, where,
        "document index ends at sequence " + std::to_string(last) + " but there are " + std::to_string(sequences) +
            " sequences");
}

std::uint64_t IndexedDataset::document_length(std::size_t d) const {
  if (d >= doc_tokens_.size())
    throw Error(str(prefix_),
                "document " + std::to_string(d) + " requested, the dataset has " + std::to_string(doc_tokens_.size()));
  return doc_tokens_[d];
}

void IndexedDataset::read_document(std::size_t d, std::uint64_t offset, std::uint64_t count, std::int32_t* out) const {
  const std::uint64_t length = document_length(d);
  if (offset > length || count > length - offset)
    throw Error(str(prefix_), "tokens [" + std::to_string(offset) + ", " + std::to_string(offset + count) +
                                  ") requested from document " + std::to_string(d) + ", which has " +
                                  std::to_string(length));
  if (count == 0) return;
  const auto first_sequence = static_cast<std::size_t>(doc_index_[d]);
  const std::size_t token_bytes = dtype_size(dtype_);
  const std::uint8_t* src = bin_.data() + static_cast<std::size_t>(pointers_[first_sequence]) +
                            static_cast<std::size_t>(offset) * token_bytes;
  const IdRange ids(vocab_size_);
  // The reader checked that every sequence starts at a multiple of the token size and the map is page-aligned.
  const auto bad = visit_token_type(dtype_, bin_.path(), [&](auto type) {
    return decode_tokens(reinterpret_cast<const decltype(type)*>(src), count, out, ids);
  });
  if (bad.has_value())
    throw Error(str(bin_.path()), "document " + std::to_string(d) + ", token " + std::to_string(offset + bad->index) +
                                      ": " + ids.refusal(bad->id));
}

}  // namespace diverge::data
