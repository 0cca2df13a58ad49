# Live tokenizer parity: the reference libraries and `diverge tokenize` encode the same texts; the ids must match.
"""Usage (in the reference venv): live_parity.py --diverge build/diverge [--only NAME,...]

The texts are every case of texts.json (ordinary and special-token cases) and every document of the bundled
corpus's validation split (69 documents from 24 fine domains, 0.5 MB). Unlike the committed vectors this runs the
libraries now, on text they were not generated from. Prints one line per vocabulary; exit 1 on any mismatch.
"""
import argparse
import json
import lzma
import subprocess
import sys
import tempfile
from pathlib import Path

import reference_tokenizers
from reference_tokenizers import REPO

HERE = Path(__file__).resolve().parent
CORPUS_SAMPLE = REPO / "data/corpus/bundled/val.jsonl.xz"
SHOWN = 5  # mismatches printed per vocabulary


def texts():
    """(text, special) pairs: the parity cases, then the corpus documents as ordinary text."""
    cases = json.loads((HERE / "texts.json").read_text(encoding="utf-8"))["cases"]
    with lzma.open(CORPUS_SAMPLE, "rt", encoding="utf-8") as lines:
        documents = [json.loads(line)["text"] for line in lines if line.strip()]
    return [(c["text"], c["special"]) for c in cases] + [(d, False) for d in documents]


def diverge_ids(diverge, tokenizer_path, batch, special, scratch):
    """One `diverge tokenize --jsonl` run over the texts of one batch: a list of id lists."""
    source = Path(scratch) / f"texts-{'special' if special else 'plain'}.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in batch), encoding="utf-8")
    command = [str(diverge), "tokenize", "--tokenizer", str(tokenizer_path), "--jsonl", "--file", str(source)]
    result = subprocess.run(command + (["--special"] if special else []), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    return [json.loads(line) for line in result.stdout.splitlines()]


def first_difference(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def mismatch_line(name, text, special, expected, got):
    at = first_difference(expected, got)
    return (f"{name}: {text[:60]!r} (special={special}): ids differ at {at} of {len(expected)}: "
            f"reference {expected[at:at + 6]}, diverge {got[at:at + 6]}")


def compare(vocabulary, pairs, diverge, tokenizer_path=None):
    """Mismatch lines (empty when every text encodes alike); tokenizer_path overrides the file Diverge loads."""
    encode = vocabulary.reference_encoder()
    path = tokenizer_path or REPO / vocabulary.path
    problems = []
    with tempfile.TemporaryDirectory(prefix="live-parity-") as scratch:
        for special in (False, True):
            batch = [text for text, s in pairs if s == special]
            for text, got in zip(batch, diverge_ids(diverge, path, batch, special, scratch)):
                expected = encode(text, special)
                if got != expected:
                    problems.append(mismatch_line(vocabulary.name, text, special, expected, got))
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diverge", required=True, help="the diverge binary")
    parser.add_argument("--only", default="", help="comma-separated vocabulary names")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    pairs = texts()
    failed = 0
    for vocabulary in reference_tokenizers.vocabularies():
        if only and vocabulary.name not in only:
            continue
        problems = compare(vocabulary, pairs, args.diverge)
        print(f"{vocabulary.name}: {len(pairs)} texts, {len(problems)} mismatches against {vocabulary.reference}")
        print("\n".join(problems[:SHOWN]) if problems else "", end="\n" if problems else "")
        failed += bool(problems)
    if failed:
        sys.exit(f"live_parity: {failed} vocabularies differ from their reference library")


if __name__ == "__main__":
    main()
