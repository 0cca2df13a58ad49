// Tests for the strict JSON reader and bounded quoting: depth, duplicate keys, number range, positions, one line.
#include <doctest/doctest.h>

#include <string>

#include "engine/error.h"
#include "engine/json/json_quote.h"
#include "engine/json/json_reader.h"
#include "tests/checkpoint_support.h"

using namespace diverge;
using diverge::test::error_of;
using nlohmann::json;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string parse_error(std::string_view text) {
  return error_of([&] { parse_json(text, "f.json"); });
}

}  // namespace

TEST_CASE("json reader: values parse as nlohmann parses them, in both key orders") {
  const std::string text = R"({"b": [1, -2, 3.5, true, null, "x\u00e9"], "a": {"c": 18446744073709551615}})";
  CHECK(parse_json(text, "f.json") == json::parse(text));
  CHECK(parse_ordered_json(text, "f.json") == nlohmann::ordered_json::parse(text));
  CHECK(parse_ordered_json(text, "f.json").begin().key() == "b");
  CHECK(parse_json(" 7 ", "f.json") == 7);
}

TEST_CASE("json reader: nesting is bounded, however deep the text, with the place of the refusal") {
  CHECK(parse_json(nested(kMaxJsonDepth), "f.json").is_array());
  CHECK(parse_error(nested(kMaxJsonDepth + 1)).starts_with("f.json: [0][0][0]"));
  CHECK(contains(parse_error(nested(kMaxJsonDepth + 1)), "objects and arrays nest deeper than 128 levels"));
  const std::string deep = parse_error(nested(100000));
  CHECK(contains(deep, "nest deeper than 128 levels"));
  CHECK(deep.size() < 250);
  CHECK(parse_error(R"({"a": {"b": [1, {"c": )" + nested(200) + "}]}}")
            .starts_with("f.json: a.b[1].c[0][0]"));
}

TEST_CASE("json reader: a key twice in one object is refused, naming the object's path and the key") {
  CHECK(parse_error(R"({"optim": {"lr": 1, "lr": 2}})") ==
        "f.json: optim.lr: duplicate key (a key may appear once per object)");
  CHECK(parse_error(R"({"a": 1, "a": 1})") == "f.json: a: duplicate key (a key may appear once per object)");
  CHECK(parse_error(R"([{"x": 1}, {"k.y": 1, "k.y": 2}])") ==
        "f.json: [1][\"k.y\"]: duplicate key (a key may appear once per object)");
  CHECK(parse_json(R"([{"a": 1}, {"a": 2}])", "f.json").size() == 2);
  CHECK(contains(error_of([&] { parse_ordered_json(R"({"s": {"k": 1, "k": 1}})", "f.json"); }), "s.k: duplicate key"));
}

TEST_CASE("json reader: a number beyond double is named with its path, not as the parser's exception") {
  CHECK(parse_error(R"({"optim": {"lr": 1e400}})") ==
        "f.json: optim.lr: number 1e400 is out of range (a JSON number must fit a double, magnitude below 1.8e308)");
  CHECK(parse_error("[0, -1e999]").starts_with("f.json: [1]: number -1e999 is out of range"));
  CHECK(parse_error("1" + std::string(400, '0')).starts_with("f.json: number 1000000000"));
  CHECK(parse_json("1e-400", "f.json") == 0.0);
}

TEST_CASE("json reader: malformed text names the line and column; a one-line text only the column") {
  CHECK(parse_error("{\n  \"a\": 1,\n  \"b\" 2\n}").starts_with("f.json: malformed JSON at line 3, column 7: "));
  CHECK(parse_error("{\"a\": tru}").starts_with("f.json: malformed JSON at column 10: syntax error"));
  CHECK(parse_error("{} x").starts_with("f.json: malformed JSON at column 4: "));
  CHECK_THROWS_AS(parse_json("{\"a\":", "f.json"), JsonSyntaxError);
  // nlohmann alone stops at a NUL byte and accepts {} here, ignoring the rest.
  CHECK(parse_error(std::string("{}\0{\"a\": 1}", 12)) ==
        "f.json: malformed JSON at column 3: a NUL byte (JSON text has none)");
  CHECK_THROWS_AS(parse_json("", "f.json"), JsonSyntaxError);
}

TEST_CASE("json reader: every message is one bounded line, whatever the text holds") {
  const std::string unterminated = "{\"" + std::string(1 << 20, 'k') + "\n";
  const std::string huge_key = "{\"" + std::string(1 << 20, 'k') + "\": 1, \"" + std::string(1 << 20, 'k') + "\": 2}";
  const std::string control_key = "{\"a\\nb\": 1, \"a\\nb\": 2}";
  for (const std::string& text : {unterminated, huge_key, control_key, nested(5000)}) {
    const std::string message = parse_error(text);
    CAPTURE(message.substr(0, 200));
    CHECK(message.find('\n') == std::string::npos);
    CHECK(message.size() < 300);
  }
  CHECK(parse_error(control_key) == "f.json: [\"a\\nb\"]: duplicate key (a key may appear once per object)");
}

TEST_CASE("quote_json writes a bounded prefix and stops there, never serialising the rest") {
  CHECK(quote_json(json{{"a", {1, 2}}, {"b", "x\"y"}}) == R"({"a":[1,2],"b":"x\"y"})");
  CHECK(quote_json(json(std::string(100, 'z')), 10) == "\"zzzzzzzzz...");
  // dump() would throw on the invalid UTF-8 after the limit; the bounded writer never reaches it.
  const json long_then_invalid = json::array({std::string(100, 'a'), std::string("\xff")});
  CHECK(quote_json(long_then_invalid) == "[\"" + std::string(58, 'a') + "...");
  json deep = json::array();
  for (int i = 0; i < 1000; ++i) deep = json::array({deep});
  CHECK(quote_json(deep) == std::string(60, '[') + "...");
  CHECK(quote_json(nlohmann::ordered_json{{"z", 1}, {"a", 2}}) == R"({"z":1,"a":2})");
}

TEST_CASE("brief_text escapes what would break a line and cuts at a character boundary") {
  CHECK(brief_text("plain") == "plain");
  CHECK(brief_text("a\nb\tc\x1b") == "a\\nb\\tc\\u001b");
  CHECK(brief_text("caf\xc3\xa9 \xff") == "caf\xc3\xa9 \\xff");
  CHECK(brief_text("\xc3\xa9\xc3\xa9", 3) == "\xc3\xa9...");
  CHECK(brief_text(std::string(100, 'x')).size() == 63);
}
