# The Megatron shard checks fail when they should: each is run on a shard or fixture with one deliberate corruption.
"""Run in the Megatron venv with the diverge binary in $DIVERGE (default build/diverge):
  DIVERGE=build/diverge tests/reference/venv-python.sh --venv .venv-megatron -m unittest \\
      tests/reference/test_megatron_shards_fail.py
"""
import os
import shutil
import struct
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests/reference"))

import megatron_shards  # noqa: E402

DIVERGE = Path(os.environ.get("DIVERGE", REPO / "build/diverge"))
# The bundled corpus's validation documents under the bundled vocabulary: uint16 shards, one per fine domain.
SOURCE = REPO / "data/corpus/bundled/val.jsonl.xz"
TOKENIZER = REPO / "data/vocab/bundled/tokenizer.json"
DOCUMENT_COUNT_AT = 9 + 8 + 1 + 8  # .idx: magic, version, dtype code, sequence count, then the document-index count


class MegatronShardChecksFail(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scratch = tempfile.TemporaryDirectory()
        cls.corpus = Path(cls.scratch.name) / "corpus"
        megatron_shards.prepare(DIVERGE, SOURCE, TOKENIZER, cls.corpus)
        cls.shard = sorted(cls.corpus.rglob("*.idx"))[0].with_suffix("")
        cls.name = str(cls.shard.relative_to(cls.corpus))

    @classmethod
    def tearDownClass(cls):
        cls.scratch.cleanup()

    def problems_of(self, corpus):
        work = Path(self.scratch.name) / f"work-{self.id().rsplit('.', 1)[-1]}"
        work.mkdir()
        return megatron_shards.corpus_problems(DIVERGE, corpus, SOURCE, TOKENIZER, work)

    def corrupted_copy(self, suffix, change):
        """A copy of the corpus whose shard self.name has its .bin or .idx bytes passed through change."""
        copy = Path(self.scratch.name) / f"copy-{self.id().rsplit('.', 1)[-1]}"
        shutil.copytree(self.corpus, copy)
        path = copy / f"{self.name}{suffix}"
        path.write_bytes(change(bytearray(path.read_bytes())))
        return copy

    def test_the_corpus_as_prepared_passes(self):
        self.assertEqual(self.problems_of(self.corpus), [])

    def test_a_flipped_token_bit_fails(self):
        def flip_first_token(data):
            data[0] ^= 1
            return data

        problems = self.problems_of(self.corrupted_copy(".bin", flip_first_token))
        self.assertEqual(len(problems), 1, problems)
        self.assertRegex(problems[0], rf"^{self.name}: document 0: megatron-core reads \d+ ids, \[\d+, .* at 0; "
                                      rf"diverge tokenize \+ EOD gives \d+, ")

    def test_a_wrong_document_count_fails(self):
        def one_document_fewer(data):
            count = struct.unpack_from("<Q", data, DOCUMENT_COUNT_AT)[0]
            struct.pack_into("<Q", data, DOCUMENT_COUNT_AT, count - 1)
            return data

        problems = self.problems_of(self.corrupted_copy(".idx", one_document_fewer))
        self.assertEqual(len(problems), 1, problems)
        self.assertTrue(problems[0].startswith(f"{self.name}: megatron-core's IndexedDataset cannot open it: "),
                        problems)

    def test_the_fixture_check_catches_a_flipped_index_byte(self):
        with tempfile.TemporaryDirectory() as scratch:
            fixture = Path(scratch) / "megatron"
            shutil.copytree(megatron_shards.FIXTURE, fixture)
            idx = fixture / "u16.idx"
            data = bytearray(idx.read_bytes())
            data[DOCUMENT_COUNT_AT + 8] ^= 1  # the first sequence length: 5 -> 4
            idx.write_bytes(data)
            work = Path(scratch) / "work"
            work.mkdir()
            problems = megatron_shards.fixture_problems(fixture, work)
        self.assertEqual(problems[0], "u16.idx: megatron-core writes other bytes")
        self.assertTrue(any(p.startswith("u16: megatron-core reads") for p in problems[1:]), problems)


if __name__ == "__main__":
    unittest.main()
