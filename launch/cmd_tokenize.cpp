// `diverge tokenize` and `diverge detokenize`: text <-> token ids with any supported vocabulary file.
#include <charconv>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/tokenizer/text_lines.h"
#include "data/tokenizer/tokenizer.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/json/json_quote.h"
#include "engine/json/json_reader.h"
#include "engine/progress.h"
#include "launch/command.h"

namespace diverge::cli {
namespace {

using data::Tokenizer;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time of the calling thread: on a shared machine it measures the work itself, where wall time also counts the
// time other processes held the core.
double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// The whole of --file (or standard input for "-").
std::string read_input(const std::string& file) {
  if (file != "-") return read_file(file);
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

void write_out(std::string_view bytes) { std::fwrite(bytes.data(), 1, bytes.size(), stdout); }

// Appends ids as a compact JSON array ("[1,2,3]"), fast enough for files of millions of tokens.
void append_ids_json(const std::vector<std::int32_t>& ids, std::string& out) {
  out.push_back('[');
  char digits[16];
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out.push_back(',');
    auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), ids[i]);
    out.append(digits, end);
  }
  out.push_back(']');
}

// The text of one JSONL line: a JSON string, or an object with a "text" string.
std::string jsonl_text(std::string_view line, const std::string& where) {
  const nlohmann::json value = parse_json(line, where);
  if (value.is_string()) return value.get<std::string>();
  check(value.is_object() && value.contains("text") && value["text"].is_string(), where,
        "expected a JSON string or an object with a \"text\" string");
  return value["text"].get<std::string>();
}

std::vector<std::int32_t> parse_ids(std::string_view text, const std::string& where) {
  const nlohmann::json value = parse_json(text, where);
  check(value.is_array(), where, "expected a JSON array of token ids");
  std::vector<std::int32_t> ids;
  ids.reserve(value.size());
  for (const auto& id : value) {
    check(id.is_number_integer() && id.get<std::int64_t>() >= INT32_MIN && id.get<std::int64_t>() <= INT32_MAX,
          where, "expected integer token ids, found " + quote_json(id));
    ids.push_back(id.get<std::int32_t>());
  }
  return ids;
}

Tokenizer load_tokenizer(const std::string& path, bool stats) {
  auto start = Clock::now();
  double cpu_start = thread_cpu_seconds();
  Tokenizer tokenizer = Tokenizer::load(path);
  if (stats) {
    std::fprintf(stderr, "tokenizer %s: %u ids, %zu merges, loaded in %.3f s (%.3f s CPU)\n", tokenizer.name().c_str(),
                 tokenizer.vocab_size(), tokenizer.merge_count(), seconds_since(start),
                 thread_cpu_seconds() - cpu_start);
  }
  return tokenizer;
}

struct TokenizeOptions {
  std::string tokenizer;
  std::string text;
  std::string file;
  bool jsonl = false;
  bool special = false;
  bool count = false;
  bool stats = false;
};

void run_tokenize(const TokenizeOptions& o) {
  check(o.text.empty() != o.file.empty(), "tokenize", "give exactly one of --text or --file");
  Tokenizer tokenizer = load_tokenizer(o.tokenizer, o.stats);
  std::string input = o.file.empty() ? o.text : read_input(o.file);
  std::vector<std::int32_t> ids;
  std::string out;
  std::size_t total_tokens = 0;
  auto start = Clock::now();
  double cpu_start = thread_cpu_seconds();
  auto emit = [&](std::string_view text) {
    ids.clear();
    if (o.special) {
      tokenizer.encode_with_special_append(text, ids);
    } else {
      tokenizer.encode_append(text, ids);
    }
    total_tokens += ids.size();
    if (o.count) {
      out += std::to_string(ids.size());
    } else {
      append_ids_json(ids, out);
    }
    out.push_back('\n');
  };
  if (o.jsonl) {
    std::string where = o.file.empty() ? std::string("--text") : o.file;
    data::for_each_line(input, [&](std::string_view line, std::size_t number) {
      emit(jsonl_text(line, where + ":" + std::to_string(number)));
    });
  } else {
    emit(input);
  }
  double elapsed = seconds_since(start);
  double cpu = thread_cpu_seconds() - cpu_start;
  write_out(out);
  if (o.stats) {
    auto megabytes = static_cast<double>(input.size()) / 1e6;
    std::fprintf(stderr,
                 "encoded %s into %zu tokens (%.3f bytes/token) in %.3f s wall, %.3f s CPU: %.2f MB/s wall, "
                 "%.2f MB/s CPU\n",
                 format_bytes(static_cast<double>(input.size())).c_str(), total_tokens,
                 static_cast<double>(input.size()) / static_cast<double>(std::max<std::size_t>(total_tokens, 1)),
                 elapsed, cpu, megabytes / std::max(elapsed, 1e-9), megabytes / std::max(cpu, 1e-9));
  }
}

struct DetokenizeOptions {
  std::string tokenizer;
  std::string ids;
  std::string file;
  bool jsonl = false;
};

void run_detokenize(const DetokenizeOptions& o) {
  check(o.ids.empty() != o.file.empty(), "detokenize", "give exactly one of --ids or --file");
  Tokenizer tokenizer = load_tokenizer(o.tokenizer, false);
  std::string out;
  auto emit = [&](const std::vector<std::int32_t>& ids) {
    std::string text = tokenizer.decode(ids);
    if (o.jsonl) {
      // JSON strings hold Unicode only: bytes that are not UTF-8 become U+FFFD here (plain output keeps them).
      out += nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      out += text;
    }
    out.push_back('\n');
  };
  if (!o.ids.empty()) {
    emit(parse_ids(o.ids, "--ids"));
  } else {
    data::for_each_line(read_input(o.file), [&](std::string_view line, std::size_t number) {
      emit(parse_ids(line, o.file + ":" + std::to_string(number)));
    });
  }
  write_out(out);
}

Registrar tokenize_command(300, [](CLI::App& root) {
  auto options = std::make_shared<TokenizeOptions>();
  auto* cmd = root.add_subcommand("tokenize", "Encode text into token ids with a vocabulary file");
  cmd->footer(
      "Prints the ids as one JSON array (with --jsonl: one array per input line).\n"
      "Vocabularies: *.tiktoken rank files, GPT-2 encoder.json (+ vocab.bpe), Hugging Face tokenizer.json.\n"
      "Example:\n"
      "  diverge tokenize --tokenizer data/vocab/tiktoken/cl100k_base.tiktoken --text 'Hello world'\n"
      "  [9906,1917]");
  cmd->add_option("--tokenizer", options->tokenizer, "Vocabulary file (or a directory holding one)")->required();
  cmd->add_option("--text", options->text, "Text to encode");
  cmd->add_option("--file", options->file, "File to encode ('-' for standard input)");
  cmd->add_flag("--jsonl", options->jsonl,
                "Input is JSON Lines: each line a JSON string or an object with a \"text\" field");
  cmd->add_flag("--special", options->special,
                "Recognise special and added tokens such as <|endoftext|> (otherwise they are plain text)");
  cmd->add_flag("--count", options->count, "Print the number of tokens instead of the ids");
  cmd->add_flag("--stats", options->stats, "Report load time and encoding speed on standard error");
  cmd->callback([options] { run_tokenize(*options); });
});

Registrar detokenize_command(310, [](CLI::App& root) {
  auto options = std::make_shared<DetokenizeOptions>();
  auto* cmd = root.add_subcommand("detokenize", "Decode token ids back into text");
  cmd->footer(
      "Prints the decoded bytes followed by a newline (with --file: one text per line of the file).\n"
      "Example:\n"
      "  diverge detokenize --tokenizer data/vocab/tiktoken/cl100k_base.tiktoken --ids '[9906,1917]'\n"
      "  Hello world");
  cmd->add_option("--tokenizer", options->tokenizer, "Vocabulary file (or a directory holding one)")->required();
  cmd->add_option("--ids", options->ids, "Token ids as a JSON array, e.g. '[1,2,3]'");
  cmd->add_option("--file", options->file, "File with one JSON array of ids per line ('-' for standard input)");
  cmd->add_flag("--jsonl", options->jsonl, "Print each text as a JSON string (one per line)");
  cmd->callback([options] { run_detokenize(*options); });
});

}  // namespace
}  // namespace diverge::cli
