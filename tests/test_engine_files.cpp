// Tests for the engine's file helpers (atomic writes, memory maps), content hashes and the CLI's basic contract.
#include <doctest/doctest.h>

#include <unistd.h>

#include <functional>
#include <vector>

#include "engine/checkpoint/durable_file.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/hash.h"
#include "tests/checkpoint_support.h"
#include "tests/support.h"

using namespace diverge;
using diverge::test::error_of;
using diverge::test::ScratchDir;

TEST_CASE("atomic write replaces the file whole and leaves no temp file") {
  ScratchDir dir("files");
  auto path = dir / "a.json";
  write_file_atomic(path, "first");
  write_file_atomic(path, "second version");
  CHECK(read_file(path) == "second version");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("atomic and durable writes name the file they write in errors, never its temporary") {
  ScratchDir dir("files-temporary");
  const std::vector<std::function<void(const fs::path&)>> writers = {
      [](const fs::path& path) { write_file_atomic(path, "x"); },
      [](const fs::path& path) { write_durably(path, "x"); }};
  for (std::size_t i = 0; i < writers.size(); ++i) {
    const fs::path path = dir / ("file-" + std::to_string(i));
    fs::path temporary = path;
    temporary += ".tmp-" + std::to_string(::getpid());
    fs::create_directories(temporary);  // the temporary cannot be created as a file, even by root
    CHECK(error_of([&] { writers[i](path); }) == path.string() + ": cannot create: Is a directory");
  }
}

TEST_CASE("reading a missing file names the path") {
  ScratchDir dir("files");
  try {
    read_file(dir / "nope.txt");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("nope.txt") != std::string::npos);
  }
  CHECK_THROWS_AS(MappedFile(dir / "nope.bin"), Error);
}

TEST_CASE("memory map sees the file's bytes") {
  ScratchDir dir("files");
  write_file_atomic(dir / "b.bin", std::string("\x00\x01\x02xyz", 6));
  MappedFile m(dir / "b.bin");
  REQUIRE(m.size() == 6);
  CHECK(m.data()[1] == 1);
  CHECK(m.view().substr(3) == "xyz");
  write_file_atomic(dir / "empty.bin", "");
  MappedFile e(dir / "empty.bin");
  CHECK(e.size() == 0);
}

TEST_CASE("content hash is stable, streaming equals one-shot, and differs on change") {
  std::string text = "The quick brown fox";
  auto h = content_hash(text);
  CHECK(h.rfind("xxh3-128:", 0) == 0);
  CHECK(h.size() == 9 + 32);
  ContentHasher s;
  s.update(text.data(), 4);
  s.update(text.data() + 4, text.size() - 4);
  CHECK(s.finish() == h);
  CHECK(content_hash("The quick brown fox.") != h);
}

TEST_CASE("the CLI answers --version and rejects an unknown subcommand") {
  auto v = diverge::test::run_diverge("--version");
  CHECK(v.exit_code == 0);
  CHECK(v.output.find("diverge ") != std::string::npos);
  CHECK(v.output.find("CUDA backend") != std::string::npos);
  auto bad = diverge::test::run_diverge("frobnicate");
  CHECK(bad.exit_code != 0);
}
