// The bundled vocabularies for tests, cached so that each test binary parses each file once.
#include "tests/tokenizer_support.h"

#include <map>
#include <memory>
#include <mutex>

#include "tests/support.h"

namespace diverge::test {

const std::vector<std::string>& bundled_tokenizer_names() {
  static const std::vector<std::string> names = {"r50k_base", "cl100k_base", "gpt2", "qwen3"};
  return names;
}

std::filesystem::path bundled_tokenizer_path(const std::string& name) {
  if (name == "gpt2") return source_path("data/vocab/gpt2/encoder.json");
  if (name == "qwen3") return source_path("data/vocab/qwen3/tokenizer.json");
  return source_path("data/vocab/tiktoken/" + name + ".tiktoken");
}

const data::Tokenizer& cached_tokenizer(const std::filesystem::path& path) {
  static std::mutex mutex;
  static std::map<std::filesystem::path, std::unique_ptr<data::Tokenizer>> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = loaded[path];
  if (!slot) slot = std::make_unique<data::Tokenizer>(data::Tokenizer::load(path));
  return *slot;
}

std::string printable(const std::string& bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

}  // namespace diverge::test
