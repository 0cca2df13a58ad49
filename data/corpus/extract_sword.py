# Extractor for SWORD zText Bible modules ({ot,nt}.bzz + .bzs + .bzv): one zlib block (one book) = one document.
import re
import struct
import zlib
from pathlib import Path

from errors import Rejected
from text import decode_utf8

_BLOCK_RECORD = struct.Struct("<III")   # (offset in .bzz, compressed size, uncompressed size)
_VERSE_RECORD = struct.Struct("<IIH")   # (block number, offset in the uncompressed block, size)
_TAG = re.compile(r"<[^>]+>")
# Footnotes are editorial apparatus, not the text: dropped with their content.
_NOTE = re.compile(r"<note\b[^>]*>.*?</note>", re.DOTALL)


def _records(data, record, what):
    if len(data) % record.size:
        raise Rejected(f"SWORD {what} index is not a whole number of {record.size}-byte records")
    return [record.unpack_from(data, at) for at in range(0, len(data), record.size)]


def _blocks(bzz, block_index):
    blocks = []
    for offset, csize, usize in block_index:
        try:
            block = zlib.decompress(bzz[offset:offset + csize])
        except zlib.error as e:
            raise Rejected("corrupt zlib block in SWORD module") from e
        if len(block) != usize:
            raise Rejected("SWORD block size differs from its index")
        blocks.append(block)
    return blocks


def _verse_lines(blocks, verse_index):
    """{block number: [verse text, ...]}: OSIS markup stripped, one verse per line, empty entries skipped."""
    lines = {}
    for block_no, offset, size in verse_index:
        if size == 0:
            continue
        if block_no >= len(blocks) or offset + size > len(blocks[block_no]):
            raise Rejected("SWORD verse index points outside its blocks")
        verse = _TAG.sub("", _NOTE.sub("", decode_utf8(blocks[block_no][offset:offset + size]))).strip()
        if verse:
            lines.setdefault(block_no, []).append(" ".join(verse.split()))
    return lines


def _sibling(bzz_path, suffix):
    """The .bzs/.bzv file of the same testament (ot or nt) beside the .bzz data."""
    return bzz_path.with_name(bzz_path.name.removesuffix(".bzz") + suffix).read_bytes()


def extract_sword(path, options):
    path = Path(path)
    blocks = _blocks(path.read_bytes(), _records(_sibling(path, ".bzs"), _BLOCK_RECORD, ".bzs"))
    lines = _verse_lines(blocks, _records(_sibling(path, ".bzv"), _VERSE_RECORD, ".bzv"))
    return [(f"#block-{block_no}", "\n".join(verses)) for block_no, verses in sorted(lines.items())]
