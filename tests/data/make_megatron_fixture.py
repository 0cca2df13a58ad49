# Writes small Megatron-LM indexed datasets (uint16 and int32) plus expected.json, independently of Diverge's code.
"""Mirrors Megatron-LM's megatron/core/datasets/indexed_dataset.py writer (IndexedDatasetBuilder + _IndexWriter):

  .bin  the tokens of every sequence, back to back, in the dataset dtype
  .idx  b"MMIDIDX\\x00\\x00", <Q version 1, <B dtype code, <Q sequence count, <Q document-index count,
        int32 sequence lengths, int64 sequence byte pointers, int64 document indices ([0] + one end per document)

Documents are built the way Megatron's builder builds them: add_item() once per sequence, end_document() after
the document's last sequence, so one document can span several sequences (and end_document() with no new item
makes an empty document). Run: python3 tests/data/make_megatron_fixture.py [output dir]
megatron-core's own IndexedDatasetBuilder writes the same files byte for byte (tests/reference/megatron_shards.py).
"""
import json
import struct
import sys
from pathlib import Path

import numpy

INDEX_HEADER = b"MMIDIDX\x00\x00"
DTYPE_CODES = {numpy.uint16: 8, numpy.int32: 4}


class Builder:
    """Megatron's IndexedDatasetBuilder, reduced to add_item / end_document / finalize."""

    def __init__(self, bin_path, dtype):
        self.data_file = open(bin_path, "wb")
        self.dtype = dtype
        self.sequence_lengths = []
        self.document_indices = [0]

    def add_item(self, tokens):
        array = numpy.array(tokens, dtype=self.dtype)
        self.data_file.write(array.tobytes(order="C"))
        self.sequence_lengths.append(array.size)

    def end_document(self):
        self.document_indices.append(len(self.sequence_lengths))

    def finalize(self, idx_path):
        self.data_file.close()
        itemsize = numpy.dtype(self.dtype).itemsize
        pointers, offset = [], 0
        for length in self.sequence_lengths:
            pointers.append(offset)
            offset += length * itemsize
        with open(idx_path, "wb") as idx:
            idx.write(INDEX_HEADER)
            idx.write(struct.pack("<Q", 1))
            idx.write(struct.pack("<B", DTYPE_CODES[self.dtype]))
            idx.write(struct.pack("<Q", len(self.sequence_lengths)))
            idx.write(struct.pack("<Q", len(self.document_indices)))
            idx.write(numpy.array(self.sequence_lengths, dtype=numpy.int32).tobytes(order="C"))
            idx.write(numpy.array(pointers, dtype=numpy.int64).tobytes(order="C"))
            idx.write(numpy.array(self.document_indices, dtype=numpy.int64).tobytes(order="C"))


def make_documents(rng, max_token):
    """Each document is a list of sequences (lists of token ids)."""
    return [
        [rng.integers(0, max_token, size=n).tolist() for n in (5, 3, 7)],  # one document, three sequences
        [[0, 1, max_token - 1, max_token]],                                # dtype boundary values
        [[]],                                                              # one empty sequence
        [],                                                                # no sequence at all
        [rng.integers(0, max_token, size=40).tolist()],
        [[7], [8, 9]],
    ]


def write_dataset(out_dir, name, dtype, documents):
    builder = Builder(out_dir / f"{name}.bin", dtype)
    for document in documents:
        for sequence in document:
            builder.add_item(sequence)
        builder.end_document()
    builder.finalize(out_dir / f"{name}.idx")
    return {
        "dtype": numpy.dtype(dtype).name,
        "sequence_lengths": builder.sequence_lengths,
        "document_indices": builder.document_indices,
        "documents": [[token for sequence in document for token in sequence] for document in documents],
    }


def main():
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "megatron"
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = numpy.random.default_rng(20240611)
    expected = {
        "u16": write_dataset(out_dir, "u16", numpy.uint16, make_documents(rng, 65535)),
        "i32": write_dataset(out_dir, "i32", numpy.int32, make_documents(rng, 2**31 - 1)),
    }
    (out_dir / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
