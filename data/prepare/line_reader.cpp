// Streaming line reader: plain files through stdio, .xz files through liblzma's stream decoder.
#include "data/prepare/line_reader.h"

#include <lzma.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"

namespace diverge::data {

namespace {
constexpr std::size_t kChunk = 1 << 20;
}

struct LineReader::Xz {
  lzma_stream stream = LZMA_STREAM_INIT;
  ~Xz() { lzma_end(&stream); }
};

LineReader::LineReader(const std::filesystem::path& path) : path_(path), raw_(kChunk) {
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) throw Error(path.string(), std::string("cannot open: ") + std::strerror(errno));
  if (path.extension() == ".xz") {
    xz_ = std::make_unique<Xz>();
    if (lzma_stream_decoder(&xz_->stream, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
      throw Error(path.string(), "cannot start the xz decoder");
  }
}

LineReader::~LineReader() {
  if (file_ != nullptr) std::fclose(file_);
}

// Appends more decoded bytes to text_; false when the file is exhausted.
bool LineReader::refill() {
  if (eof_) return false;
  if (text_pos_ > 0) {
    text_.erase(text_.begin(), text_.begin() + static_cast<std::ptrdiff_t>(text_pos_));
    text_pos_ = 0;
  }
  if (!xz_) {
    std::size_t n = std::fread(raw_.data(), 1, raw_.size(), file_);
    if (std::ferror(file_)) throw Error(path_.string(), "read failed");
    file_bytes_read_ += n;
    text_.insert(text_.end(), raw_.data(), raw_.data() + n);
    if (n == 0) eof_ = true;
    return n > 0;
  }
  lzma_stream& s = xz_->stream;
  std::vector<char> out(kChunk);
  while (true) {
    if (s.avail_in == 0 && !std::feof(file_)) {
      std::size_t n = std::fread(raw_.data(), 1, raw_.size(), file_);
      if (std::ferror(file_)) throw Error(path_.string(), "read failed");
      file_bytes_read_ += n;
      s.next_in = reinterpret_cast<const std::uint8_t*>(raw_.data());
      s.avail_in = n;
    }
    s.next_out = reinterpret_cast<std::uint8_t*>(out.data());
    s.avail_out = out.size();
    lzma_ret ret = lzma_code(&s, std::feof(file_) && s.avail_in == 0 ? LZMA_FINISH : LZMA_RUN);
    std::size_t produced = out.size() - s.avail_out;
    text_.insert(text_.end(), out.data(), out.data() + produced);
    if (ret == LZMA_STREAM_END) {
      eof_ = true;
      return produced > 0;
    }
    if (ret != LZMA_OK) throw Error(path_.string(), "xz data is corrupt or truncated (lzma error " + std::to_string(ret) + ")");
    if (produced > 0) return true;
  }
}

bool LineReader::next(std::string& line) {
  while (true) {
    const char* begin = text_.data() + text_pos_;
    const char* end = text_.data() + text_.size();
    const void* nl = std::memchr(begin, '\n', static_cast<std::size_t>(end - begin));
    if (nl != nullptr || (eof_ && begin != end)) {
      const char* stop = nl != nullptr ? static_cast<const char*>(nl) : end;
      std::size_t len = static_cast<std::size_t>(stop - begin);
      if (len > 0 && begin[len - 1] == '\r') --len;
      line.assign(begin, len);
      text_pos_ += static_cast<std::size_t>(stop - begin) + (nl != nullptr ? 1 : 0);
      ++line_number_;
      return true;
    }
    if (!refill()) {
      if (text_pos_ < text_.size()) continue;
      return false;
    }
  }
}

}  // namespace diverge::data
