// Tests for the corpus builder (its Python unit tests, run from CTest) and for the committed bundled corpus.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <set>
#include <string>

#include "tests/support.h"

using diverge::test::source_path;

namespace {

// The whole stdout of a shell command and its exit code (-1 when it could not run or was killed).
std::pair<int, std::string> capture(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  std::string out;
  std::array<char, 1 << 16> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

struct SplitSummary {
  std::size_t documents = 0;
  std::set<std::string> coarse;
  std::set<std::string> fine;
  std::set<std::string> texts;
  std::set<std::string> sources;
};

// Reads one split of the bundled corpus, checking every line's fields as it goes.
SplitSummary read_split(const std::string& split) {
  auto path = source_path("data/corpus/bundled/" + split + ".jsonl.xz");
  auto [code, text] = capture("xz -dc '" + path.string() + "'");
  REQUIRE_MESSAGE(code == 0, "xz -dc failed on " << path);
  SplitSummary summary;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    REQUIRE_MESSAGE(end != std::string::npos, split << ": last line has no newline");
    auto doc = nlohmann::json::parse(text.substr(begin, end - begin));
    for (const char* key : {"text", "coarse", "fine", "source", "license"}) {
      REQUIRE_MESSAGE(doc.contains(key), split << " line " << summary.documents + 1 << " lacks " << key);
      REQUIRE(doc[key].is_string());
      REQUIRE_FALSE(doc[key].get<std::string>().empty());
    }
    auto coarse = doc["coarse"].get<std::string>();
    auto fine = doc["fine"].get<std::string>();
    CHECK_MESSAGE(fine.rfind(coarse + ".", 0) == 0, fine << " is not under " << coarse);
    CHECK(doc["source"].get<std::string>().rfind("deb:", 0) == 0);
    summary.coarse.insert(coarse);
    summary.fine.insert(fine);
    summary.texts.insert(doc["text"].get<std::string>());
    summary.sources.insert(doc["source"].get<std::string>());
    ++summary.documents;
    begin = end + 1;
  }
  return summary;
}

std::size_t shared(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::size_t n = 0;
  for (const auto& x : a) n += b.count(x);
  return n;
}

}  // namespace

TEST_CASE("the corpus builder's Python unit tests pass") {
  auto root = source_path("");
  auto command = "cd '" + root.string() +
                 "' && PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m unittest tests/corpus/test_extractors.py 2>&1";
  auto [code, output] = capture(command);
  INFO(output);
  CHECK(code == 0);
}

TEST_CASE("the bundled corpus has 3 coarse and at least 15 fine domains in two disjoint splits") {
  auto train = read_split("train");
  auto val = read_split("val");
  CHECK(train.documents > 0);
  CHECK(val.documents > 0);
  CHECK(train.coarse == std::set<std::string>{"code", "math", "prose"});
  CHECK(val.coarse == train.coarse);
  CHECK(train.fine.size() >= 15);
  CHECK(val.fine == train.fine);
  CHECK(shared(train.texts, val.texts) == 0);
  CHECK(shared(train.sources, val.sources) == 0);
  CHECK(train.sources.size() == train.documents);
}
