// Streaming line reader over InputStream (plain or .xz).
#include "data/prepare/line_reader.h"

#include <cstring>

namespace diverge::data {

bool LineReader::next(std::string& line) {
  while (true) {
    const char* begin = text_.data() + text_pos_;
    const char* end = text_.data() + text_.size();
    const void* nl = std::memchr(begin, '\n', static_cast<std::size_t>(end - begin));
    if (nl != nullptr || (at_end_ && begin != end)) {
      const char* stop = nl != nullptr ? static_cast<const char*>(nl) : end;
      std::size_t len = static_cast<std::size_t>(stop - begin);
      if (len > 0 && begin[len - 1] == '\r') --len;
      line.assign(begin, len);
      text_pos_ += static_cast<std::size_t>(stop - begin) + (nl != nullptr ? 1 : 0);
      ++line_number_;
      return true;
    }
    if (at_end_) return false;
    text_.erase(text_.begin(), text_.begin() + static_cast<std::ptrdiff_t>(text_pos_));
    text_pos_ = 0;
    at_end_ = !input_.read_some(text_);
  }
}

}  // namespace diverge::data
