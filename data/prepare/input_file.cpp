// Corpus file input: plain reads or liblzma stream decoding of .xz, in pieces or whole.
#include "data/prepare/input_file.h"

#include <lzma.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"

namespace diverge::data {

namespace {
constexpr std::size_t kChunk = 1 << 20;
}

bool is_xz(const std::filesystem::path& path) { return path.extension() == ".xz"; }

struct InputStream::Xz {
  lzma_stream stream = LZMA_STREAM_INIT;
  ~Xz() { lzma_end(&stream); }
};

InputStream::InputStream(const std::filesystem::path& path) : path_(path), raw_(kChunk) {
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) throw Error(path.string(), std::string("cannot open: ") + std::strerror(errno));
  if (is_xz(path)) {
    xz_ = std::make_unique<Xz>();
    if (lzma_stream_decoder(&xz_->stream, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
      throw Error(path.string(), "cannot start the xz decoder");
  }
}

InputStream::~InputStream() {
  if (file_ != nullptr) std::fclose(file_);
}

bool InputStream::read_some(std::vector<char>& out) {
  if (eof_) return false;
  auto read_raw = [this](char* dst, std::size_t cap) {
    std::size_t n = std::fread(dst, 1, cap, file_);
    if (std::ferror(file_)) throw Error(path_.string(), "read failed");
    file_bytes_read_ += n;
    return n;
  };
  if (!xz_) {
    std::size_t old = out.size();
    out.resize(old + kChunk);
    std::size_t n = read_raw(out.data() + old, kChunk);
    out.resize(old + n);
    if (n == 0) eof_ = true;
    return n > 0;
  }
  lzma_stream& s = xz_->stream;
  while (true) {
    if (s.avail_in == 0 && !std::feof(file_)) {
      s.avail_in = read_raw(raw_.data(), raw_.size());
      s.next_in = reinterpret_cast<const std::uint8_t*>(raw_.data());
    }
    std::size_t old = out.size();
    out.resize(old + kChunk);
    s.next_out = reinterpret_cast<std::uint8_t*>(out.data() + old);
    s.avail_out = kChunk;
    lzma_ret ret = lzma_code(&s, std::feof(file_) && s.avail_in == 0 ? LZMA_FINISH : LZMA_RUN);
    std::size_t produced = kChunk - s.avail_out;
    out.resize(old + produced);
    if (ret == LZMA_STREAM_END) {
      eof_ = true;
      return produced > 0;
    }
    if (ret != LZMA_OK)
      throw Error(path_.string(), "xz data is corrupt or truncated (lzma error " + std::to_string(ret) + ")");
    if (produced > 0) return true;
  }
}

InputText::InputText(const std::filesystem::path& path) {
  if (!is_xz(path)) {
    mapped_ = MappedFile(path);
    return;
  }
  InputStream in(path);
  std::vector<char> buf;
  while (in.read_some(buf)) {
  }
  decoded_.assign(buf.begin(), buf.end());
}

}  // namespace diverge::data
