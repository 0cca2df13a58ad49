// Tests of `diverge tokenize` and `diverge detokenize`: ids out, text back, JSONL, special tokens, errors.
#include <doctest/doctest.h>

#include "engine/files.h"
#include "tests/support.h"
#include "tests/tokenizer_support.h"

using namespace diverge;
using diverge::test::run_diverge;
using diverge::test::ScratchDir;

namespace {

std::string tokenizer_flag(const std::string& name) {
  return "--tokenizer '" + test::bundled_tokenizer_path(name).string() + "'";
}

}  // namespace

TEST_CASE("tokenize prints the ids and detokenize gives the text back") {
  auto ids = run_diverge("tokenize " + tokenizer_flag("gpt2") + " --text 'Hello world'");
  CHECK(ids.exit_code == 0);
  CHECK(ids.output == "[15496,995]\n");
  auto text = run_diverge("detokenize " + tokenizer_flag("gpt2") + " --ids '[15496, 995]'");
  CHECK(text.exit_code == 0);
  CHECK(text.output == "Hello world\n");
}

TEST_CASE("tokenize and detokenize round trip a file through JSON lines") {
  ScratchDir dir("tok-cli");
  const std::string name = "cl100k_base";
  write_file_atomic(dir / "docs.jsonl",
                    "{\"text\": \"first document\\n  indented\", \"domain\": \"prose\"}\n"
                    "\"second: caf\\u00e9 \\u4e2d\\u6587 <|endoftext|>\"\n"
                    "\n"
                    "{\"text\": \"\"}\n");
  auto ids = run_diverge("tokenize " + tokenizer_flag(name) + " --jsonl --file '" + (dir / "docs.jsonl").string() + "'");
  REQUIRE(ids.exit_code == 0);
  const data::Tokenizer& t = test::bundled_tokenizer(name);
  auto json_ids = [](const std::vector<std::int32_t>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s + "]";
  };
  std::string expected = json_ids(t.encode("first document\n  indented")) + "\n" +
                         json_ids(t.encode("second: caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 <|endoftext|>")) + "\n[]\n";
  CHECK(ids.output == expected);
  write_file_atomic(dir / "ids.txt", ids.output);
  auto text = run_diverge("detokenize " + tokenizer_flag(name) + " --jsonl --file '" + (dir / "ids.txt").string() + "'");
  CHECK(text.exit_code == 0);
  CHECK(text.output ==
        "\"first document\\n  indented\"\n\"second: caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 <|endoftext|>\"\n\"\"\n");
}

TEST_CASE("tokenize --special turns <|endoftext|> into its id; --count prints the count") {
  auto plain = run_diverge("tokenize " + tokenizer_flag("r50k_base") + " --text 'a<|endoftext|>'");
  CHECK(plain.output != "[64,50256]\n");
  auto special = run_diverge("tokenize " + tokenizer_flag("r50k_base") + " --special --text 'a<|endoftext|>'");
  CHECK(special.output == "[64,50256]\n");
  auto count = run_diverge("tokenize " + tokenizer_flag("r50k_base") + " --count --text 'Hello world'");
  CHECK(count.output == "2\n");
}

TEST_CASE("the tokenizer commands explain bad input in one line") {
  auto both = run_diverge("tokenize " + tokenizer_flag("gpt2") + " --text a --file b");
  CHECK(both.exit_code != 0);
  CHECK(both.output.find("exactly one of --text or --file") != std::string::npos);
  auto bad_ids = run_diverge("detokenize " + tokenizer_flag("gpt2") + " --ids '[1, \"x\"]'");
  CHECK(bad_ids.exit_code != 0);
  CHECK(bad_ids.output.find("--ids") != std::string::npos);
  auto out_of_range = run_diverge("detokenize " + tokenizer_flag("gpt2") + " --ids '[50257]'");
  CHECK(out_of_range.exit_code != 0);
  CHECK(out_of_range.output.find("50257") != std::string::npos);
  ScratchDir dir("tok-cli-bad");
  write_file_atomic(dir / "bad.jsonl", "\"ok\"\n{\"title\": 1}\n");
  auto bad_line = run_diverge("tokenize " + tokenizer_flag("gpt2") + " --jsonl --file '" + (dir / "bad.jsonl").string() + "'");
  CHECK(bad_line.exit_code != 0);
  CHECK(bad_line.output.find("bad.jsonl:2") != std::string::npos);
  auto missing = run_diverge("tokenize --tokenizer '" + (dir / "none.tiktoken").string() + "' --text a");
  CHECK(missing.exit_code != 0);
  CHECK(missing.output.find("none.tiktoken") != std::string::npos);
}

TEST_CASE("the tokenizer commands have help with an example") {
  for (const char* command : {"tokenize", "detokenize"}) {
    auto help = run_diverge(std::string(command) + " --help");
    CHECK(help.exit_code == 0);
    CHECK(help.output.find("Example") != std::string::npos);
    CHECK(help.output.find("--tokenizer") != std::string::npos);
  }
}
