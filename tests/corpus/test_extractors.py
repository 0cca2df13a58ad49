# Unit tests for the corpus builder (data/corpus): every extractor, globs, text hygiene, sampling, splits, output.
import gzip
import io
import json
from pathlib import Path
import shutil
import sys
import tarfile
import tempfile
import unittest
import zipfile

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "corpus_fixture"
sys.path.insert(0, str(ROOT / "data" / "corpus"))

from archives import unpack_members  # noqa: E402
from build_corpus import sample_domains  # noqa: E402
from debian import Package, list_files  # noqa: E402
from errors import CorpusError, Rejected  # noqa: E402
from extract_dictd import decode_b64_number, extract_dictd  # noqa: E402
from extract_fortunes import extract_fortunes  # noqa: E402
from extract_html import extract_html  # noqa: E402
from extract_man import extract_man, is_so_redirect  # noqa: E402
from extract_metamath import extract_metamath  # noqa: E402
from extract_rdata import extract_rdata, split_chapters  # noqa: E402
from extract_source import extract_source  # noqa: E402
from extract_sword import extract_sword  # noqa: E402
from globs import PathFilter  # noqa: E402
from output import write_corpus  # noqa: E402
from recipe import parse_recipe  # noqa: E402
from splitting import assign_splits  # noqa: E402
from text import decode_utf8, looks_binary, normalise, pack_pieces, split_long  # noqa: E402


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="corpus-test-"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


class GlobTests(unittest.TestCase):
    def test_double_star_spans_zero_or_more_folders_and_braces_alternate(self):
        f = PathFilter(["src/**/*.{c,h}"])
        self.assertTrue(f.matches("src/a.c"))
        self.assertTrue(f.matches("src/x/y/a.h"))
        self.assertFalse(f.matches("src/a.cc"))
        self.assertFalse(f.matches("lib/src/a.c"))

    def test_single_star_stays_inside_one_folder_and_exclude_wins(self):
        f = PathFilter(["a/*.js"], ["**/*.min.js"])
        self.assertTrue(f.matches("a/x.js"))
        self.assertFalse(f.matches("a/b/x.js"))
        self.assertFalse(f.matches("a/x.min.js"))

    def test_archive_members_match_like_paths(self):
        f = PathFilter(["usr/src/k.tar.xz!/k/kernel/**/*.c"])
        self.assertTrue(f.matches("usr/src/k.tar.xz!/k/kernel/sched/core.c"))


class TextTests(unittest.TestCase):
    def test_strict_utf8_with_bom_dropped(self):
        self.assertEqual(decode_utf8("\ufeffné".encode("utf-8")), "né")
        with self.assertRaises(Rejected):
            decode_utf8("né".encode("latin-1"))

    def test_binary_detection(self):
        self.assertTrue(looks_binary("abc\x00def"))
        self.assertTrue(looks_binary("x\x01" * 100))
        self.assertFalse(looks_binary("tabs\tand\fform feeds\n" * 10))

    def test_normalise_unifies_newlines_and_blank_runs(self):
        self.assertEqual(normalise("\n\na  \r\nb\r\n\n\n\nc\n\n"), "a\nb\n\nc\n")
        self.assertEqual(normalise(" \n\n"), "")

    def test_split_long_respects_the_limit_and_loses_nothing(self):
        text = "".join(f"line {i} ünïcödé\n" for i in range(500)) + "é" * 3000 + "\n"
        parts = split_long(text, 1024)
        self.assertEqual("".join(parts), text)
        self.assertTrue(all(len(p.encode("utf-8")) <= 1024 for p in parts))
        self.assertTrue(all(p.endswith("\n") for p in parts[:5]))
        self.assertEqual(split_long("short\n", 1024), ["short\n"])


class ExtractorTests(TempDirTest):
    def test_source_file_whole_and_gzip_transparent(self):
        expected = (FIXTURE / "hello.c").read_text(encoding="utf-8")
        self.assertEqual(extract_source(FIXTURE / "hello.c", {}), [("", expected)])
        gz = self.tmp / "hello.c.gz"
        gz.write_bytes(gzip.compress(expected.encode("utf-8")))
        self.assertEqual(extract_source(gz, {}), [("", expected)])

    def test_source_rejects_latin1(self):
        bad = self.tmp / "bad.txt"
        bad.write_bytes("caf\xe9\n".encode("latin-1"))
        with self.assertRaises(Rejected):
            extract_source(bad, {})

    def test_html_keeps_visible_text_and_preformatted_layout(self):
        [(suffix, text)] = extract_html(FIXTURE / "page.html", {})
        self.assertEqual(suffix, "")
        self.assertIn("Fixture & page", text)
        self.assertIn("First paragraph spans two lines.", text)
        self.assertIn("int main() {\n    return 0;\n}", text)
        self.assertIn("one\n", text)
        for hidden in ("Head title", "color: red", "Navigation", "script text"):
            self.assertNotIn(hidden, text)
        self.assertIn("Dropped by class", text)

    def test_html_drops_elements_by_class_and_id_with_their_content(self):
        [(_, text)] = extract_html(FIXTURE / "page.html", {"drop_classes": ["navbox"], "drop_ids": ["siteSub"]})
        for hidden in ("Dropped by class", "nested", "Dropped by id"):
            self.assertNotIn(hidden, text)
        self.assertIn("Fixture & page", text)
        self.assertIn("int main() {\n    return 0;\n}", text)

    @unittest.skipUnless(shutil.which("groff"), "groff is not installed (apt-get install groff-base)")
    def test_man_page_rendered_without_markup_header_or_footer(self):
        [(_, text)] = extract_man(FIXTURE / "demo.1", {})
        self.assertIn("NAME", text)
        self.assertIn("demo - show that man pages render to plain text", text.replace("\u2010", "-"))
        self.assertIn("Its only purpose is to be rendered by groff.", text)
        self.assertNotIn("DEMO(1)", text)
        self.assertNotIn("\x08", text)
        gz = self.tmp / "demo.1.gz"
        gz.write_bytes(gzip.compress((FIXTURE / "demo.1").read_bytes()))
        self.assertEqual(extract_man(gz, {}), [("", text)])

    def test_man_so_redirect_is_rejected(self):
        self.assertTrue(is_so_redirect((FIXTURE / "redirect.1").read_text()))
        self.assertFalse(is_so_redirect((FIXTURE / "demo.1").read_text()))
        with self.assertRaises(Rejected):
            extract_man(FIXTURE / "redirect.1", {})

    def test_dictd_base64_numbers(self):
        self.assertEqual(decode_b64_number("A"), 0)
        self.assertEqual(decode_b64_number("/"), 63)
        self.assertEqual(decode_b64_number("BA"), 64)
        self.assertEqual(decode_b64_number("5I"), 57 * 64 + 8)

    def test_dictd_entries_batched_once_each_without_metadata_or_dropped_markers(self):
        docs = extract_dictd(FIXTURE / "fruit.dict.dz", {"per_doc": 2, "drop_entries_containing": ["[WordNet 1.5"]})
        self.assertEqual([s for s, _ in docs], ["#entries-0", "#entries-2"])
        text = "\n\n".join(t for _, t in docs)
        for word in ("apple", "banana", "date", "elderberry"):
            self.assertEqual(text.count(f"{word}\n   "), 1, word)
        self.assertNotIn("cherry", text)
        self.assertNotIn("00-database", text)
        self.assertEqual(len(extract_dictd(FIXTURE / "fruit.dict.dz", {})), 1)

    def test_sword_books_one_verse_per_line_without_markup_or_notes(self):
        docs = extract_sword(FIXTURE / "ot.bzz", {})
        self.assertEqual(docs, [("#block-1", "In the beginning was the fixture.\nAnd the tests ran."),
                                ("#block-2", "Second BookIt ends here; \u00e9l\u00e8ve.")])

    def test_rdata_novels_cut_into_chapters(self):
        docs = extract_rdata(FIXTURE / "austen_excerpt.rdb", {})
        self.assertEqual([s for s, _ in docs], ["#object-0-chapter-0", "#object-0-chapter-1", "#object-1-chapter-0"])
        self.assertTrue(docs[0][1].startswith("EMMA\n\nBy Jane Austen"))
        self.assertIn("CHAPTER I\n", docs[0][1])
        self.assertTrue(docs[1][1].startswith("CHAPTER II\n"))
        self.assertIn("Mr. Weston was a native of Highbury", docs[1][1])
        self.assertTrue(docs[2][1].startswith("SENSE AND SENSIBILITY"))

    def test_rdata_rejects_other_files(self):
        with self.assertRaises(Rejected):
            extract_rdata(FIXTURE / "hello.c", {})

    def test_chapter_split_keeps_title_page_with_first_chapter(self):
        lines = ["TITLE", "Chapter 1", "a", "Chapter 2", "b"]
        self.assertEqual(split_chapters(lines, r"^Chapter \d"), ["TITLE\nChapter 1\na", "Chapter 2\nb"])

    def test_fortunes_split_on_percent_lines_and_batched(self):
        docs = extract_fortunes(FIXTURE / "quotes", {"per_doc": 2})
        self.assertEqual(docs, [("#fortunes-0", "A fortune for the fixture.\n%\nSecond fortune,\non two lines."),
                                ("#fortunes-2", "Third fortune.")])

    def test_metamath_cut_at_headings_only(self):
        docs = extract_metamath(FIXTURE / "excerpt.mm", {"target_bytes": 1})
        self.assertEqual(len(docs), 4)
        self.assertTrue(docs[0][1].startswith("$( excerpt.mm"))
        self.assertIn("Pre-logic", docs[1][1])
        self.assertIn("Implication", docs[2][1])
        self.assertIn("An ordinary comment is not a heading.", docs[3][1])
        whole = extract_metamath(FIXTURE / "excerpt.mm", {})
        self.assertEqual(whole, [("#section-0", (FIXTURE / "excerpt.mm").read_text())])

    def test_pack_pieces_fills_up_to_target(self):
        self.assertEqual(pack_pieces(["aa", "bb", "cccccc", "d"], 4), ["aabb", "cccccc", "d"])


class ArchiveTests(TempDirTest):
    def _tarball(self, root):
        with tarfile.open(root / "src.tar.xz", "w:xz") as tar:
            for name, data in (("pkg/a.c", b"int a;\n"), ("pkg/b.txt", b"text\n"), ("pkg/sub/c.c", b"int c;\n")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            evil = tarfile.TarInfo("../evil.c")
            evil.size = 1
            tar.addfile(evil, io.BytesIO(b"x"))

    def test_tar_members_copied_by_glob_reused_and_added_up(self):
        self._tarball(self.tmp)
        f = PathFilter(["src.tar.xz!/pkg/**/*.c"])
        self.assertEqual(unpack_members(self.tmp, "src.tar.xz", f.matches, "sel"), 2)
        self.assertEqual([p for p in list_files(self.tmp) if "!/" in p],
                         ["src.tar.xz!/pkg/a.c", "src.tar.xz!/pkg/sub/c.c"])
        self.assertFalse((self.tmp / "evil.c").exists())
        self.assertIsNone(unpack_members(self.tmp, "src.tar.xz", f.matches, "sel"))
        self.assertEqual(unpack_members(self.tmp, "src.tar.xz", PathFilter(["**/b.txt"]).matches, "other"), 1)
        self.assertTrue((self.tmp / "src.tar.xz!" / "pkg" / "a.c").exists())
        self.assertIsNone(unpack_members(self.tmp, "src.tar.xz", f.matches, "sel"))

    def test_zip_members_copied_by_glob(self):
        with zipfile.ZipFile(self.tmp / "src.zip", "w") as z:
            z.writestr("java.base/A.java", "class A {}\n")
            z.writestr("java.base/B.txt", "no\n")
        self.assertEqual(unpack_members(self.tmp, "src.zip", PathFilter(["**/*.java"]).matches, "s"), 1)
        self.assertEqual((self.tmp / "src.zip!" / "java.base" / "A.java").read_text(), "class A {}\n")

    def test_missing_archive_is_an_error(self):
        with self.assertRaises(CorpusError):
            unpack_members(self.tmp, "nope.tar.xz", PathFilter(["**"]).matches, "s")


def _source(package, include, extractor="source", **extra):
    return {"package": package, "license": "MIT", "extractor": extractor, "include": include, **extra}


def _recipe(domains, **top):
    return {"name": "test", "min_doc_bytes": 1, "domains": domains, **top}


class RecipeTests(unittest.TestCase):
    def assert_error(self, data, *fragments):
        with self.assertRaises(CorpusError) as caught:
            parse_recipe(data, "r.json")
        message = str(caught.exception)
        self.assertTrue(message.startswith("r.json: "), message)
        for fragment in fragments:
            self.assertIn(fragment, message)

    def test_valid_recipe_parses(self):
        r = parse_recipe(_recipe([{"fine": "code.c", "cap_mb": 0.5, "sources": [
            _source("p", ["**/*.c"], cap_mb=0.1, options={}, parallel_key={"pattern": "x", "replace": "y"})]}]), "r")
        self.assertEqual(r.domains[0].coarse, "code")
        self.assertEqual(r.domains[0].cap_bytes, 500_000)
        self.assertEqual(r.domains[0].sources[0].cap_bytes, 100_000)
        self.assertEqual(r.packages(), ["p"])

    def test_errors_name_the_key(self):
        ok = {"fine": "code.c", "cap_mb": 1, "sources": [_source("p", ["*"])]}
        self.assert_error(_recipe([{**ok, "cap_mb": -1}]), "domains[0].cap_mb", "positive")
        self.assert_error(_recipe([{**ok, "fine": "c"}]), "domains[0].fine")
        self.assert_error(_recipe([ok, ok]), "listed twice")
        self.assert_error(_recipe([{**ok, "sources": [_source("p", ["*"], "pdf")]}]), "sources[0].extractor", "pdf")
        self.assert_error(_recipe([{**ok, "sources": [_source("p", [])]}]), "sources[0].include")
        self.assert_error(_recipe([{**ok, "sources": [_source("p", ["*"], "fortunes", options={"per_doc": "x"})]}]),
                          "options.per_doc", "int")
        self.assert_error(_recipe([{**ok, "sources": [_source("p", ["*"], "dictd", options={"per_doc": 0})]}]),
                          "options.per_doc", "at least 1")
        self.assert_error(_recipe([{**ok, "sources": [_source("p", ["*"], "html", options={"drop_ids": [1]})]}]),
                          "options.drop_ids", "strings")
        self.assert_error(_recipe([{**ok, "sources": [_source("p", ["*"], options={"per_doc": 3})]}]),
                          "options.per_doc", "not an option")
        self.assert_error(_recipe([{**ok, "sources": [_source("p", ["*"], parallel_key={"pattern": "(",
                                                                                         "replace": ""})]}]),
                          "parallel_key.pattern")
        self.assert_error(_recipe([ok], colour="red"), "unknown key 'colour'")
        self.assert_error({"name": "x"}, "domains", "missing")


class PipelineTests(TempDirTest):
    """Sampling, dedup, splits and output over fake unpacked packages (no downloads)."""

    def _package(self, name, files):
        root = self.tmp / name
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        return Package(name, "1.0", Path(f"{name}_1.0_all.deb")), root

    def _build(self, recipe_data, packages):
        recipe = parse_recipe(recipe_data, "test.json")
        documents, dropped = sample_domains(recipe, {p.name: p for p, _ in packages},
                                            {p.name: root for p, root in packages}, lambda message: None)
        assign_splits(documents, recipe.val_fraction, recipe.min_val_docs)
        return documents, dropped

    def _code_packages(self):
        files = {f"src/f{i:03}.c": f"int f{i}(void) {{ return {i}; }}\n" + "/* pad */\n" * 40 for i in range(60)}
        files["src/dup.c"] = files["src/f000.c"]
        files["src/bin.c"] = "\x00\x01binary"
        package = self._package("code-pkg", files)
        (self.tmp / "code-pkg" / "src" / "notutf8.c").write_bytes(b"caf\xe9\n" * 20)
        return [package]

    def test_cap_dedup_and_drops(self):
        packages = self._code_packages()
        domain = {"fine": "code.c", "cap_mb": 0.004, "sources": [_source("code-pkg", ["src/*.c"])]}
        documents, _ = self._build(_recipe([domain]), packages)
        sizes = [len(d.text.encode("utf-8")) for d in documents]
        self.assertGreaterEqual(sum(sizes), 4000)
        self.assertLess(sum(sizes) - sizes[-1], 4000)
        self.assertLess(len(documents), 60)
        full, dropped_all = self._build(_recipe([{**domain, "cap_mb": 1}]), packages)
        self.assertEqual(len(full), 60)
        self.assertEqual(len({d.text for d in full}), 60)
        self.assertEqual(dropped_all["code.c"], {"binary-looking": 1, "duplicate": 1, "not UTF-8": 1})

    def test_documents_carry_labels_source_and_licence(self):
        documents, _ = self._build(_recipe([{"fine": "code.c", "cap_mb": 1,
                                             "sources": [_source("code-pkg", ["src/f00*.c"])]}]),
                                   self._code_packages())
        self.assertEqual(len(documents), 10)
        for d in documents:
            self.assertEqual((d.coarse, d.fine, d.license), ("code", "code.c", "MIT"))
            self.assertRegex(d.source, r"^deb:code-pkg/1\.0:src/f00\d\.c$")

    def test_long_documents_split_into_parts_and_source_cap(self):
        big = "".join(f"line {i}\n" for i in range(3000))
        packages = [self._package("big", {"a.txt": big, "b.txt": big.replace("line", "row")})]
        domain = {"fine": "prose.x", "cap_mb": 1, "sources": [_source("big", ["*.txt"])]}
        documents, _ = self._build(_recipe([domain], max_doc_bytes=4096), packages)
        self.assertEqual("".join(d.text for d in documents if d.source.startswith("deb:big/1.0:a.txt")), big)
        self.assertTrue(all(len(d.text.encode()) <= 4096 for d in documents))
        self.assertIn("deb:big/1.0:a.txt#part-0", [d.source for d in documents])
        capped, _ = self._build(_recipe([{**domain, "sources": [_source("big", ["*.txt"], cap_mb=0.01)]}],
                                        max_doc_bytes=4096), packages)
        self.assertLess(sum(len(d.text) for d in capped), 10000 + 4096)

    def test_order_and_output_are_deterministic(self):
        packages = self._code_packages()
        recipe = _recipe([{"fine": "code.c", "cap_mb": 0.01, "sources": [_source("code-pkg", ["src/*.c"])]}])
        first, _ = self._build(recipe, packages)
        second, _ = self._build(recipe, packages)
        self.assertEqual([(d.source, d.split) for d in first], [(d.source, d.split) for d in second])
        self.assertNotEqual([d.source for d in first], sorted(d.source for d in first))
        out_a, out_b = self.tmp / "a", self.tmp / "b"
        write_corpus(out_a, first, {"n": 1})
        write_corpus(out_b, second, {"n": 1})
        for name in ("train.jsonl", "val.jsonl", "summary.json"):
            self.assertEqual((out_a / name).read_bytes(), (out_b / name).read_bytes())
        record = json.loads((out_a / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
        self.assertEqual(list(record), ["text", "coarse", "fine", "source", "license"])

    def test_val_split_has_a_floor_and_never_shares_documents(self):
        documents, _ = self._build(_recipe([{"fine": "code.c", "cap_mb": 1,
                                             "sources": [_source("code-pkg", ["src/*.c"])]}]),
                                   self._code_packages())
        val = [d for d in documents if d.split == "val"]
        self.assertEqual(len(val), 3)
        self.assertFalse({d.text for d in val} & {d.text for d in documents if d.split == "train"})

    def test_translations_share_a_split_across_domains(self):
        names = [f"page{i:02}" for i in range(40)]
        key = {"pattern": r"^man/[a-z]+/(.*)$", "replace": r"\1"}
        en = self._package("man-en", {f"man/en/{n}": f"English text of {n}\n" for n in names})
        de = self._package("man-de", {f"man/de/{n}": f"Deutscher Text von {n}\n" for n in names})
        recipe = _recipe([{"fine": "prose.en", "cap_mb": 1, "sources": [_source("man-en", ["**"], parallel_key=key)]},
                          {"fine": "prose.ml.de", "cap_mb": 1,
                           "sources": [_source("man-de", ["**"], parallel_key=key)]}])
        documents, _ = self._build(recipe, [en, de])
        split_of = {}
        for d in documents:
            split_of.setdefault(d.source.rsplit("/", 1)[1], set()).add(d.split)
        self.assertTrue(all(len(s) == 1 for s in split_of.values()))
        self.assertGreaterEqual(sum(s == {"val"} for s in split_of.values()), 3)


if __name__ == "__main__":
    unittest.main()
