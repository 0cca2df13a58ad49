// Where the strict JSON reader stands in a document (open objects and arrays, their keys and indices), and the
// one-line errors that name that place.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"

namespace diverge {

// Deepest nesting of objects and arrays a document may have. Real files nest at most six levels (a metrics
// record's routing.layers[i], a tokenizer's pre-tokenizer sequence); the bound keeps every recursive walk over a
// parsed value (copies, comparisons, dump, flattening) far from the end of the stack.
inline constexpr std::size_t kMaxJsonDepth = 128;

// Text that is not JSON at all, as opposed to JSON that breaks a rule (a duplicate key, a number out of range, too
// deep): --set takes such a value as a plain string.
class JsonSyntaxError : public Error {
 public:
  using Error::Error;
};

class JsonPath {
 public:
  JsonPath(std::string_view text, std::string_view where) : text_(text), where_(where) {}

  // A value starts here: in an array, it is the next element.
  void begin_value() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().elements;
  }
  // Opens an object or array at the current place; Error when it would nest deeper than kMaxJsonDepth.
  void open(bool object);
  void close() { frames_.pop_back(); }
  void set_key(std::string_view key) { frames_.back().key.assign(key); }

  // "optim.lr", "shards[3].labels", "model.vocab[\"a.b\"]"; empty at the top level.
  std::string describe() const;

  [[noreturn]] void fail_duplicate_key() const;
  // nlohmann's parser takes a NUL byte for the end of the text and ignores whatever follows it; JSON text never
  // holds one, so the reader refuses it as malformed.
  void check_no_nul() const;
  // The parser's own errors: a number beyond double ("<path>: number 1e400 is out of range ...") or malformed
  // text ("malformed JSON at line 3, column 7: ..."). byte is the parser's count of bytes read.
  [[noreturn]] void fail_parse(std::size_t byte, std::string_view token, int id, std::string_view message);

 private:
  struct Frame {
    bool object = false;
    std::string key;           // the object's current key
    std::size_t elements = 0;  // the array's elements begun so far
  };

  std::string place(std::string_view what) const;
  std::string line_and_column(std::size_t byte) const;

  std::string_view text_;
  std::string_view where_;
  std::vector<Frame> frames_;
};

}  // namespace diverge
