// The SAX filter behind the strict JSON reader: nlohmann's parser drives it, it checks depth, duplicate keys and
// number range as the document streams by, and hands every event on to a consumer that builds what it needs.
#pragma once

#include <string_view>

#include "engine/json/json_path.h"

namespace diverge {

// Consumer: null(), boolean(b), number_integer(i), number_unsigned(u), number_float(d), string(s&),
// start_object(), key(s&) -> false when the open object already holds the key, end_object(), start_array(),
// end_array(). Every rule broken is an Error (JsonSyntaxError for malformed text) at `where`; consumers throw their
// own Errors the same way.
template <class BasicJson, class Consumer>
class StrictEvents {
 public:
  using number_integer_t = typename BasicJson::number_integer_t;
  using number_unsigned_t = typename BasicJson::number_unsigned_t;
  using number_float_t = typename BasicJson::number_float_t;
  using string_t = typename BasicJson::string_t;
  using binary_t = typename BasicJson::binary_t;

  StrictEvents(std::string_view text, std::string_view where, Consumer& consumer)
      : path_(text, where), consumer_(consumer) {
    path_.check_no_nul();
  }

  bool null() { return scalar([&] { consumer_.null(); }); }
  bool boolean(bool v) { return scalar([&] { consumer_.boolean(v); }); }
  bool number_integer(number_integer_t v) { return scalar([&] { consumer_.number_integer(v); }); }
  bool number_unsigned(number_unsigned_t v) { return scalar([&] { consumer_.number_unsigned(v); }); }
  bool number_float(number_float_t v, const string_t&) { return scalar([&] { consumer_.number_float(v); }); }
  bool string(string_t& v) { return scalar([&] { consumer_.string(v); }); }
  // Binary values exist only in nlohmann's binary formats, never in JSON text.
  bool binary(binary_t&) { return false; }

  bool start_object(std::size_t) {
    path_.begin_value();
    path_.open(true);
    consumer_.start_object();
    return true;
  }
  bool key(string_t& k) {
    path_.set_key(k);
    if (!consumer_.key(k)) path_.fail_duplicate_key();
    return true;
  }
  bool end_object() {
    path_.close();
    consumer_.end_object();
    return true;
  }
  bool start_array(std::size_t) {
    path_.begin_value();
    path_.open(false);
    consumer_.start_array();
    return true;
  }
  bool end_array() {
    path_.close();
    consumer_.end_array();
    return true;
  }

  [[noreturn]] bool parse_error(std::size_t byte, const std::string& token, const typename BasicJson::exception& e) {
    path_.fail_parse(byte, token, e.id, e.what());
  }

 private:
  template <class Event>
  bool scalar(Event event) {
    path_.begin_value();
    event();
    return true;
  }

  JsonPath path_;
  Consumer& consumer_;
};

// Parses text (one JSON value, nothing after it but whitespace) into consumer under the rules above.
template <class BasicJson, class Consumer>
void parse_strictly(std::string_view text, std::string_view where, Consumer& consumer) {
  StrictEvents<BasicJson, Consumer> events(text, where, consumer);
  BasicJson::sax_parse(text.begin(), text.end(), &events);
}

}  // namespace diverge
