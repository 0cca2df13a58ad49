# The reference checks fail when they should: each is run on a deliberately corrupted token, vector, name or header.
"""Run in the reference venv with the diverge binary in $DIVERGE (default build/diverge):
  DIVERGE=build/diverge tests/reference/venv-python.sh -m unittest tests/reference/test_checks_fail.py
"""
import json
import os
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests/tokenizer"), str(REPO / "tests/data"), str(REPO / "tests/reference")]

import checkpoint_safetensors  # noqa: E402
import live_parity  # noqa: E402
import make_safetensors_fixture  # noqa: E402
import make_vectors  # noqa: E402
import reference_tokenizers  # noqa: E402

DIVERGE = Path(os.environ.get("DIVERGE", REPO / "build/diverge"))
SENTENCE = "The quick brown fox jumps over the lazy dog."


def vocabulary(name):
    return next(v for v in reference_tokenizers.vocabularies() if v.name == name)


def replace_once(path, old, new):
    """Rewrites path with the one occurrence of old replaced by new, as long (so a safetensors header keeps its
    length)."""
    data = path.read_bytes()
    assert data.count(old) == 1 and len(old) == len(new), (path, old)
    path.write_bytes(data.replace(old, new))


class TokenizerChecksFail(unittest.TestCase):
    def test_live_parity_catches_an_altered_vocabulary_entry(self):
        # " quick" (rank 4062) and " brown" (14198) trade ranks in the copy Diverge loads; tiktoken keeps the original.
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / "cl100k_base.tiktoken"
            ranks = (REPO / "data/vocab/tiktoken/cl100k_base.tiktoken").read_text()
            swapped = {"IHF1aWNr 4062": "IHF1aWNr 14198", "IGJyb3du 14198": "IGJyb3du 4062"}
            copy.write_text("".join(swapped.get(line, line) + "\n" for line in ranks.splitlines()))
            pairs = [(SENTENCE, False), ("a quick fix", False)]
            problems = live_parity.compare(vocabulary("cl100k_base"), pairs, DIVERGE, tokenizer_path=copy)
        self.assertEqual(len(problems), 2, problems)
        self.assertIn(repr(SENTENCE), problems[0])
        self.assertIn("reference [4062, 14198", problems[0])

    def test_live_parity_passes_the_unaltered_vocabulary(self):
        self.assertEqual(live_parity.compare(vocabulary("cl100k_base"), [(SENTENCE, False)], DIVERGE), [])

    def test_vectors_check_catches_an_altered_id(self):
        committed = REPO / "tests/tokenizer/vectors/cl100k_base.json"
        fresh = committed.read_text(encoding="utf-8")
        with tempfile.TemporaryDirectory() as scratch:
            altered = Path(scratch) / "cl100k_base.json"
            altered.write_text(fresh.replace("[791,4062,14198,", "[791,4062,14199,", 1), encoding="utf-8")
            problems = make_vectors.differences(altered, fresh)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn(repr(SENTENCE), problems[0])


class SafetensorsChecksFail(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scratch = tempfile.TemporaryDirectory()
        cls.checkpoint = checkpoint_safetensors.train_checkpoint(DIVERGE, Path(cls.scratch.name))

    @classmethod
    def tearDownClass(cls):
        cls.scratch.cleanup()

    def corrupted_checkpoint(self, old, new):
        copy = Path(self.scratch.name) / f"copy-{self.id().rsplit('.', 1)[-1]}"
        shutil.copytree(self.checkpoint, copy)
        replace_once(copy / "model.safetensors", old, new)
        return copy

    def test_the_checkpoint_as_written_passes(self):
        ok, problems = checkpoint_safetensors.check_checkpoint(self.checkpoint)
        self.assertEqual((len(ok), problems), (2, []))

    def test_a_renamed_tensor_fails(self):
        copy = self.corrupted_checkpoint(b'"model.norm.weight"', b'"model.norm.wEight"')
        _, problems = checkpoint_safetensors.check_checkpoint(copy)
        self.assertEqual(problems, ["model.safetensors: model.norm.weight: missing",
                                    "model.safetensors: model.norm.wEight: not a tensor the config calls for"])

    def test_a_header_whose_shape_disagrees_with_its_bytes_fails(self):
        entry = b'"model.norm.weight":{"dtype":"F32","shape":[32]'
        copy = self.corrupted_checkpoint(entry, entry.replace(b"[32]", b"[31]"))
        _, problems = checkpoint_safetensors.check_checkpoint(copy)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("model.safetensors: the safetensors library cannot read it", problems[0])

    def test_the_fixture_check_catches_an_altered_tensor_byte(self):
        with tempfile.TemporaryDirectory() as scratch:
            fixture = Path(scratch) / "safetensors"
            shutil.copytree(REPO / "tests/data/safetensors", fixture)
            expected = json.loads((fixture / "expected.json").read_text())["reference_layout.safetensors"]
            path = fixture / "reference_layout.safetensors"
            data = bytearray(path.read_bytes())
            data[8 + expected["header_bytes"] + expected["tensors"]["counts"]["data_offsets"][0]] ^= 1
            path.write_bytes(data)
            problems = make_safetensors_fixture.check(fixture)
        self.assertEqual(len(problems), 2, problems)
        self.assertIn("reference_layout.safetensors: the library now writes other bytes", problems[0])
        self.assertIn("reference_layout.safetensors: counts: the library reads", problems[1])


if __name__ == "__main__":
    unittest.main()
