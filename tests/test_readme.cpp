// Tests that the README's command examples keep working: every command of its bash blocks runs, in document order,
// in one scratch directory on the bundled corpus (training at tiny size), and prints what its comment says it prints.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/files.h"
#include "tests/support.h"

using namespace diverge;

namespace {

// Commands of the README that this test does not run, and why: each must still appear in the README (a stale entry
// fails the test), and any other command the test cannot run fails it too.
struct Skipped {
  std::string prefix;
  const char* why;
};
const std::vector<Skipped> kSkipped = {
    {"launch/run-demo.sh", "the full demo: 500 steps of tiny-cpu"},
    {"launch/run-tests.sh", "this very suite"},
    {"launch/reference-venv.sh", "installs from the package index; launch/run-tests.sh has already run it"},
    {"ctest --test-dir build -L reference", "the reference checks are CTest tests of this very suite"},
    {"python3 data/corpus/build_corpus.py", "downloads 1.1 GB of Debian packages"},
    {"python3 benchmarks/train_step_torch.py", "needs PyTorch"},
    {"mpirun -np 2 build/diverge train", "test_mpi_train runs diverge train under mpirun (as root, oversubscribed)"},
    {"mpirun -np 8 --host", "needs two hosts"},
    {"mpirun -np 2 build/diverge bench ep", "test_mpi_bench_ep runs diverge bench ep under mpirun"},
};

// Settings appended to every `train` example so that it runs in seconds; they come last, so they win.
constexpr const char* kTinyTraining =
    " --set train.steps=6 --set optim.warmup_steps=2 --set data.val_every=3 --set data.val_batches=1"
    " --set train.checkpoint_every=3 --set log.every=3";

struct Example {
  std::string command;               // as the README writes it, continuation lines joined
  std::vector<std::string> expected;  // "# ..." lines right below it: what it prints
  int line = 0;                       // where it starts in the README
};

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// Every command of every ```bash block. A heredoc (`<<'END'`) runs with its body; lines starting "# " at column 0
// right after a command are its expected output.
std::vector<Example> readme_examples(const std::string& readme) {
  std::vector<std::string> lines;
  for (std::size_t start = 0, end; start < readme.size(); start = end + 1) {
    end = readme.find('\n', start);
    if (end == std::string::npos) end = readme.size();
    lines.push_back(readme.substr(start, end - start));
  }
  std::vector<Example> examples;
  bool in_block = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (starts_with(line, "```")) {
      in_block = !in_block && line == "```bash";
      continue;
    }
    if (!in_block || line.empty()) continue;
    if (starts_with(line, "# ")) {
      REQUIRE_MESSAGE(!examples.empty(), "README.md:" << i + 1 << ": output comment before any command");
      examples.back().expected.push_back(line.substr(2));
      continue;
    }
    if (starts_with(line, " ")) continue;  // an indented comment continuing the one of the line above
    Example example{line, {}, static_cast<int>(i + 1)};
    while (!example.command.empty() && example.command.back() == '\\' && i + 1 < lines.size())
      example.command = example.command.substr(0, example.command.size() - 1) + lines[++i];
    const auto heredoc = example.command.find("<<'");
    if (heredoc != std::string::npos) {
      const std::string end = example.command.substr(heredoc + 3, example.command.find('\'', heredoc + 3) - heredoc - 3);
      while (i + 1 < lines.size() && lines[i] != end) example.command += "\n" + lines[++i];
    }
    examples.push_back(std::move(example));
  }
  return examples;
}

// The command without its optional " [--flag ...]" groups (brackets elsewhere, as in --ids '[1,2]', stay).
std::string without_optional_flags(const std::string& command) {
  std::string out;
  for (std::size_t i = 0; i < command.size(); ++i) {
    const std::size_t close = command.find(']', i);
    if (command.compare(i, 4, " [--") == 0 && close != std::string::npos) {
      i = close;
      continue;
    }
    out += command[i];
  }
  return out;
}

// The command as the test runs it: optional flags removed, training cut to a few steps.
std::string runnable(const std::string& command) {
  std::string run = without_optional_flags(command);
  if (starts_with(run, "build/diverge train ")) {
    const auto comment = run.find(" #");
    run = run.substr(0, comment) + kTinyTraining;
  }
  return run;
}

// The scratch directory as the README's reader has it: the source tree's configs and data, the built binary.
void make_workspace(const test::ScratchDir& dir) {
  fs::create_directory_symlink(test::source_path("configs"), dir / "configs");
  fs::create_directory_symlink(test::source_path("data"), dir / "data");
  fs::create_directories(dir / "build");
  fs::create_symlink(DIVERGE_BINARY, dir / "build/diverge");
  // The user's own files the tokenizer examples read: documents of the bundled corpus.
  const auto made = test::run_command(
      "cd '" + dir.path().string() + "' && xz -dc data/corpus/bundled/train.jsonl.xz > all.jsonl && " +
      "grep '\"coarse\": *\"prose\"' all.jsonl > prose.jsonl && grep '\"coarse\": *\"code\"' all.jsonl > code.jsonl && " +
      "head -n 20 all.jsonl > docs.jsonl && head -c 200000 prose.jsonl > big.txt");
  REQUIRE_MESSAGE(made.exit_code == 0, made.output);
}

}  // namespace

TEST_CASE("readme: every command example runs and prints what its comment shows") {
  const auto examples = readme_examples(read_file(test::source_path("README.md")));
  REQUIRE(examples.size() > 10);
  test::ScratchDir dir("readme");
  make_workspace(dir);
  std::vector<bool> skip_used(kSkipped.size(), false);
  for (const Example& example : examples) {
    const auto skipped = std::find_if(kSkipped.begin(), kSkipped.end(),
                                      [&](const Skipped& s) { return starts_with(example.command, s.prefix); });
    if (skipped != kSkipped.end()) {
      skip_used[static_cast<std::size_t>(skipped - kSkipped.begin())] = true;
      continue;
    }
    CAPTURE(example.line);
    CAPTURE(example.command);
    REQUIRE_MESSAGE((starts_with(example.command, "build/diverge ") || starts_with(example.command, "cat > ")),
                    "README.md:" << example.line << ": a command this test cannot run; run it here or skip it");
    const std::string script = "cd '" + dir.path().string() + "' && " + runnable(example.command);
    const auto result = test::run_command("bash -o pipefail -c \"$(cat <<'README_EXAMPLE'\n" + script +
                                          "\nREADME_EXAMPLE\n)\"");
    CHECK_MESSAGE(result.exit_code == 0, result.output);
    for (const auto& expected : example.expected)
      CHECK_MESSAGE(result.output.find(expected) != std::string::npos, "expected: " << expected << "\n"
                                                                                    << result.output);
  }
  for (std::size_t i = 0; i < kSkipped.size(); ++i)
    CHECK_MESSAGE(skip_used[i], "no README command starts with '" << kSkipped[i].prefix << "' any more");
}
