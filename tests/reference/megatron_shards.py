# megatron-core's own indexed-dataset reader and writer check the shards `diverge prepare` writes, and the fixture.
"""Usage (in the Megatron venv, launch/reference-venv.sh):
  tests/reference/venv-python.sh --venv .venv-megatron tests/reference/megatron_shards.py --diverge build/diverge

The reader and writer are megatron-core's megatron/core/datasets/indexed_dataset.py (IndexedDataset,
IndexedDatasetBuilder) as released on PyPI, run on Debian's torch 1.13 (tests/reference/requirements-megatron.txt).

  - Corpora: `diverge prepare` writes the bundled corpus with the bundled 8k vocabulary (uint16 shards) and its
    validation documents with cl100k_base (int32 shards). IndexedDataset opens every shard the manifest lists; the
    dtype and the document and token counts are the manifest's, and every document holds the ids `diverge tokenize`
    gives its text followed by the end-of-document id, each (labels, split) stream in input order.
    IndexedDatasetBuilder, given those documents as Megatron's tools/preprocess_data.py gives them (add_document, one
    sequence per document), writes the shard's .bin and .idx byte for byte.
  - Fixture: IndexedDatasetBuilder writes tests/data/megatron/{u16,i32} byte for byte from expected.json (documents
    of several sequences and empty ones, by add_item + end_document), and IndexedDataset reads the committed files
    as expected.json describes them. tests/test_shards.cpp reads the same files with Diverge's reader.

Prints one line per corpus and one for the fixture; exit 1 with the problems otherwise.
"""
import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import lzma
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy
import torch

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests/data/megatron"
SHOWN = 3  # differing documents named per shard

# name -> (input, tokenizer) of each corpus prepared and read back.
CORPORA = {
    "bundled-8k": (REPO / "data/corpus/bundled", REPO / "data/vocab/bundled/tokenizer.json"),
    "val-cl100k": (REPO / "data/corpus/bundled/val.jsonl.xz", REPO / "data/vocab/tiktoken/cl100k_base.tiktoken"),
}


def import_indexed_dataset():
    """megatron.core.datasets.indexed_dataset, imported without running megatron/core/__init__.py.

    That __init__ imports the whole framework (distributed data parallel, Transformer Engine hooks), which needs
    torch >= 2.6; the indexed-dataset module and the modules it imports run on torch 1.13 as they are. Two of those,
    megatron.core.utils and parallel_state, import each other: parallel_state has to come first.
    """
    spec = importlib.util.find_spec("megatron.core")
    package = types.ModuleType("megatron.core")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["megatron.core"] = package
    sys.modules["megatron"].core = package
    importlib.import_module("megatron.core.parallel_state")
    return importlib.import_module("megatron.core.datasets.indexed_dataset")


megatron = import_indexed_dataset()


def run(command, stdin=None):
    """-> the command's standard output; raises with its standard error when it fails."""
    result = subprocess.run([str(c) for c in command], input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def prepare(diverge, source, tokenizer, corpus):
    run([diverge, "prepare", "--input", source, "--tokenizer", tokenizer, "--output", corpus])


def input_files(source):
    """The files `diverge prepare` reads for one input, in its order (a directory's JSONL files by name)."""
    if not source.is_dir():
        return [source]
    return sorted(p for p in source.iterdir() if p.is_file() and p.name.endswith((".jsonl", ".jsonl.xz")))


def file_split(path):
    return next((split for split in ("train", "val") if path.name.startswith(split)), None)


def expected_streams(diverge, source, tokenizer, manifest):
    """(labels, split) -> the token lists of its documents in input order: `diverge tokenize` ids + EOD."""
    systems, eod = manifest["label_systems"], manifest["tokenizer"]["eod_id"]
    streams = {}
    for path in input_files(source):
        with (lzma.open if path.suffix == ".xz" else open)(path, "rt", encoding="utf-8") as lines:
            jsonl = [line for line in lines if line.strip()]
        ids = run([diverge, "tokenize", "--tokenizer", tokenizer, "--jsonl", "--file", "-"], "".join(jsonl))
        for line, tokens in zip(jsonl, ids.splitlines(), strict=True):
            document = json.loads(line)
            key = (tuple(document[s] for s in systems), document.get("split", file_split(path)))
            streams.setdefault(key, []).append(json.loads(tokens) + ([eod] if eod >= 0 else []))
    return streams


def read_with_megatron(prefix):
    """-> (dtype name, sequence lengths, document indices, documents as int64 arrays) as megatron-core reads them."""
    dataset = megatron.IndexedDataset(str(prefix))
    bounds = dataset.document_indices

    def document(d):
        sequences = [dataset[int(s)] for s in range(bounds[d], bounds[d + 1])]
        return numpy.concatenate(sequences).astype(numpy.int64) if sequences else numpy.empty(0, numpy.int64)

    documents = [document(d) for d in range(len(bounds) - 1)]
    return numpy.dtype(dataset.index.dtype).name, dataset.sequence_lengths.tolist(), bounds.tolist(), documents


def write_with_megatron(prefix, dtype_name, documents):
    """IndexedDatasetBuilder as tools/preprocess_data.py drives it: add_document, one sequence per document."""
    builder = megatron.IndexedDatasetBuilder(f"{prefix}.bin", dtype=numpy.dtype(dtype_name).type)
    for tokens in documents:
        builder.add_document(torch.from_numpy(tokens), [len(tokens)])
    builder.finalize(f"{prefix}.idx")


def differing_bytes(written, committed, name):
    """Problems for each of a prefix's .bin and .idx whose bytes differ between the two prefixes."""
    return [f"{name}{ext}: megatron-core writes other bytes" for ext in (".bin", ".idx")
            if Path(f"{written}{ext}").read_bytes() != Path(f"{committed}{ext}").read_bytes()]


def document_problems(name, documents, expected):
    differing = [d for d, (got, want) in enumerate(zip(documents, expected)) if got.tolist() != want]
    problems = []
    for d in differing[:SHOWN]:
        got, want = documents[d].tolist(), expected[d]
        at = next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), min(len(got), len(want)))
        problems.append(f"{name}: document {d}: megatron-core reads {len(got)} ids, {got[at:at + 4]} at {at}; "
                        f"diverge tokenize + EOD gives {len(want)}, {want[at:at + 4]}")
    if len(differing) > SHOWN:
        problems.append(f"{name}: {len(differing) - SHOWN} more documents differ")
    return problems


def shard_problems(corpus, shard, expected, scratch):
    """Problems with one shard read by megatron-core; expected: its documents' token lists."""
    name = shard["prefix"]
    try:
        dtype, _, _, documents = read_with_megatron(corpus / name)
    except (AssertionError, ValueError, OSError) as error:  # Megatron's reader checks by assert; numpy by ValueError
        return [f"{name}: megatron-core's IndexedDataset cannot open it: {type(error).__name__}: {error}"]
    problems = []
    tokens = sum(len(d) for d in documents)
    if (dtype, len(documents), tokens) != (shard["dtype"], shard["documents"], shard["tokens"]):
        problems.append(f"{name}: megatron-core reads {dtype}, {len(documents)} documents, {tokens} tokens; the "
                        f"manifest says {shard['dtype']}, {shard['documents']}, {shard['tokens']}")
    problems += document_problems(name, documents, expected)
    if not problems:
        rewritten = scratch / name.replace("/", "_")
        write_with_megatron(rewritten, dtype, documents)
        problems += differing_bytes(rewritten, corpus / name, name)
    return problems


def corpus_problems(diverge, corpus, source, tokenizer, scratch):
    """Problems with every shard of a prepared corpus (empty when megatron-core reads and writes it alike)."""
    manifest = json.loads((corpus / "manifest.json").read_text())
    streams = expected_streams(diverge, source, tokenizer, manifest)
    problems, taken = [], {}
    for shard in manifest["shards"]:
        key = (tuple(shard["labels"][s] for s in manifest["label_systems"]), shard["split"])
        start = taken.get(key, 0)
        taken[key] = start + shard["documents"]
        problems += shard_problems(corpus, shard, streams.get(key, [])[start:taken[key]], scratch)
    for key, documents in streams.items():
        if taken.get(key, 0) != len(documents):
            problems.append(f"labels {key[0]}, split {key[1]}: the input has {len(documents)} documents, the "
                            f"manifest's shards {taken.get(key, 0)}")
    return problems


def fixture_sequences(want):
    """expected.json's entry -> each document's sequences, cut by the sequence lengths and document indices."""
    tokens = [token for document in want["documents"] for token in document]
    ends = numpy.cumsum(want["sequence_lengths"]).tolist()
    sequences = [tokens[end - length:end] for end, length in zip(ends, want["sequence_lengths"])]
    bounds = want["document_indices"]
    return [sequences[bounds[d]:bounds[d + 1]] for d in range(len(bounds) - 1)]


def fixture_problems(fixture, scratch):
    """Problems with the fixture: megatron-core writes it byte for byte and reads it as expected.json says."""
    problems = []
    for name, want in json.loads((fixture / "expected.json").read_text()).items():
        builder = megatron.IndexedDatasetBuilder(str(scratch / f"{name}.bin"), dtype=numpy.dtype(want["dtype"]).type)
        for sequences in fixture_sequences(want):
            for sequence in sequences:
                builder.add_item(torch.tensor(sequence, dtype=torch.int64))
            builder.end_document()
        builder.finalize(str(scratch / f"{name}.idx"))
        problems += differing_bytes(scratch / name, fixture / name, name)
        try:
            dtype, lengths, bounds, documents = read_with_megatron(fixture / name)
        except (AssertionError, ValueError, OSError) as error:
            problems.append(f"{name}: megatron-core's IndexedDataset cannot open it: {type(error).__name__}: {error}")
            continue
        read = {"dtype": dtype, "sequence_lengths": lengths, "document_indices": bounds,
                "documents": [d.tolist() for d in documents]}
        problems += [f"{name}: megatron-core reads {key} {read[key]!s:.80}, expected.json says {want[key]!s:.80}"
                     for key in want if read[key] != want[key]]
    return problems


def summary(name, corpus):
    manifest = json.loads((corpus / "manifest.json").read_text())
    shards = manifest["shards"]
    return (f"{name}: megatron-core reads all {len(shards)} shards ({', '.join(sorted({s['dtype'] for s in shards}))}"
            f"; {sum(s['documents'] for s in shards)} documents, {sum(s['tokens'] for s in shards)} tokens) as "
            f"`diverge tokenize` + EOD, and writes them byte for byte")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diverge", required=True, help="the diverge binary")
    args = parser.parse_args()
    print(f"megatron-core {importlib.metadata.version('megatron-core')}, torch {torch.__version__}, "
          f"numpy {numpy.__version__}")
    lines, problems = [], []
    with tempfile.TemporaryDirectory(prefix="megatron-shards-") as scratch:
        for name, (source, tokenizer) in CORPORA.items():
            corpus, work = Path(scratch) / name, Path(scratch) / f"{name}-megatron"
            work.mkdir()
            prepare(args.diverge, source, tokenizer, corpus)
            found = corpus_problems(args.diverge, corpus, source, tokenizer, work)
            problems += found
            lines += [] if found else [summary(name, corpus)]
        found = fixture_problems(FIXTURE, Path(scratch))
        problems += found
        lines += [] if found else [f"fixture: megatron-core writes {FIXTURE.relative_to(REPO)}/ byte for byte and "
                                   f"reads it as expected.json says"]
    print("\n".join(lines + problems))
    if problems:
        sys.exit(f"megatron_shards: {len(problems)} problem(s)")


if __name__ == "__main__":
    main()
