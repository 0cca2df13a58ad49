# Text hygiene shared by the extractors: reading (de)compressed files, strict UTF-8, binary detection, length splits.
import bz2
import gzip
import lzma
import re

from errors import Rejected

_DECOMPRESSORS = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress}
# C0 controls other than tab, newline, vertical tab, form feed, carriage return and escape.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_MAX_CONTROL_SHARE = 0.001
_BLANK_RUNS = re.compile(r"\n{3,}")


def read_bytes(path):
    """The file's bytes, decompressed when its name ends in .gz, .bz2 or .xz."""
    with open(path, "rb") as f:
        data = f.read()
    for suffix, decompress in _DECOMPRESSORS.items():
        if str(path).endswith(suffix):
            try:
                return decompress(data)
            except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
                raise Rejected(f"corrupt {suffix} stream") from e
    return data


def decode_utf8(data):
    """Strict UTF-8 (a leading BOM dropped); anything else is rejected rather than guessed."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Rejected("not UTF-8") from e
    return text.removeprefix("\ufeff")


def read_text(path):
    return decode_utf8(read_bytes(path))


def looks_binary(text):
    if "\x00" in text:
        return True
    return len(_CONTROL.findall(text)) > _MAX_CONTROL_SHARE * max(len(text), 1)


def normalise(text):
    """Unix newlines, no trailing spaces, at most one blank line in a row, one final newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    text = _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n")
    return text + "\n" if text else ""


def _hard_split(line, max_bytes):
    """A line longer than the limit, cut at character boundaries into pieces of at most max_bytes UTF-8 bytes."""
    data = line.encode("utf-8")
    pieces = []
    while data:
        cut = min(max_bytes, len(data))
        while cut < len(data) and (data[cut] & 0xC0) == 0x80:
            cut -= 1
        pieces.append(data[:cut].decode("utf-8"))
        data = data[cut:]
    return pieces


def pack_pieces(pieces, max_bytes):
    """Consecutive pieces joined greedily while they fit in max_bytes UTF-8 bytes (a larger piece stays alone)."""
    packed, current, size = [], [], 0
    for piece in pieces:
        piece_size = len(piece.encode("utf-8"))
        if current and size + piece_size > max_bytes:
            packed.append("".join(current))
            current, size = [], 0
        current.append(piece)
        size += piece_size
    if current:
        packed.append("".join(current))
    return packed


def split_long(text, max_bytes):
    """Parts of at most max_bytes UTF-8 bytes each, cut at line boundaries (inside a line only if it alone is longer)."""
    if len(text.encode("utf-8")) <= max_bytes:
        return [text]
    pieces = []
    for line in text.splitlines(keepends=True):
        pieces.extend([line] if len(line.encode("utf-8")) <= max_bytes else _hard_split(line, max_bytes))
    return pack_pieces(pieces, max_bytes)


def batch_documents(items, per_doc, label, separator):
    """[(f"#{label}-{first index}", items joined)] for consecutive runs of per_doc items (dictionary entries...)."""
    return [(f"#{label}-{start}", separator.join(items[start:start + per_doc]))
            for start in range(0, len(items), per_doc)]
