// Parity with independent tokenizer implementations: every vector file in tests/tokenizer/vectors/ must match.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>

#include "engine/files.h"
#include "tests/support.h"
#include "tests/tokenizer_support.h"

using namespace diverge;
using nlohmann::json;

namespace {

// The vector files, sorted; the directory must exist and hold at least one.
std::vector<fs::path> vector_files() {
  fs::path dir = test::source_path("tests/tokenizer/vectors");
  std::vector<fs::path> files;
  if (fs::is_directory(dir)) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() == ".json") files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("parity: ids match the reference implementations' vectors for every vocabulary") {
  std::vector<fs::path> files = vector_files();
  REQUIRE_MESSAGE(!files.empty(), "no reference vectors in tests/tokenizer/vectors/ (*.json)");
  for (const auto& file : files) {
    json doc = json::parse(read_file(file));
    std::string reference = doc.value("reference", "?");
    CAPTURE(file.filename().string());
    CAPTURE(reference);
    REQUIRE(doc["cases"].is_array());
    REQUIRE(!doc["cases"].empty());
    const data::Tokenizer& tokenizer = test::cached_tokenizer(test::source_path(doc["tokenizer"].get<std::string>()));
    int mismatches = 0;
    for (const auto& c : doc["cases"]) {
      std::string text = c["text"].get<std::string>();
      bool special = c.value("special", false);
      auto expected = c["ids"].get<std::vector<std::int32_t>>();
      auto ids = special ? tokenizer.encode_with_special(text) : tokenizer.encode(text);
      if (ids != expected && ++mismatches <= 5) {
        CAPTURE(test::printable(text));
        CAPTURE(special);
        CHECK(json(ids).dump() == json(expected).dump());
      }
    }
    MESSAGE(file.filename().string() << ": " << doc["cases"].size() << " cases against " << reference << ", "
                                     << mismatches << " mismatches");
    CHECK(mismatches == 0);
  }
}
