# Extractor for dictd databases (.index + .dict.dz): consecutive entries batched into documents.
import gzip
import zlib

from errors import Rejected
from text import batch_documents, decode_utf8

DEFAULT_PER_DOC = 50
_B64_DIGITS = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
# dictfmt's own metadata entries (00-database-info, 00databaseurl...) are not dictionary text.
_METADATA_PREFIXES = ("00-database-", "00database")


def decode_b64_number(digits):
    """dictd writes offsets and lengths as base-64 numbers, most significant digit first."""
    value = 0
    for c in digits:
        if c not in _B64_DIGITS:
            raise Rejected(f"bad base-64 digit {c!r} in dictd index")
        value = value * 64 + _B64_DIGITS[c]
    return value


def parse_index(text):
    """[(headword, offset, length)] in index order."""
    entries = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 3:
            raise Rejected("dictd index line without headword, offset and length")
        entries.append((fields[0], decode_b64_number(fields[1]), decode_b64_number(fields[2])))
    return entries


def _index_path(dict_path):
    name = str(dict_path)
    for suffix in (".dict.dz", ".dict"):
        if name.endswith(suffix):
            return name[:-len(suffix)] + ".index"
    raise Rejected("dictd data file must end in .dict or .dict.dz")


def _read_dict(path):
    with open(path, "rb") as f:
        raw = f.read()
    if not str(path).endswith(".dz"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise Rejected("corrupt .dict.dz stream") from e


def _entry_texts(index, data, drop_markers):
    """Entry texts in index order, each (offset, length) once: dictd lists an entry under every headword it has.

    An entry that is not UTF-8 is left out rather than the whole dictionary (gcide has 9 among 203 645).
    """
    seen = set()
    for headword, offset, length in index:
        if headword.startswith(_METADATA_PREFIXES) or (offset, length) in seen:
            continue
        seen.add((offset, length))
        if offset + length > len(data):
            raise Rejected(f"dictd entry {headword!r} runs past the end of the data")
        try:
            text = decode_utf8(data[offset:offset + length]).strip("\n")
        except Rejected:
            continue
        if not any(marker in text for marker in drop_markers):
            yield text


def extract_dictd(path, options):
    per_doc = int(options.get("per_doc", DEFAULT_PER_DOC))
    drop_markers = tuple(options.get("drop_entries_containing", ()))
    with open(_index_path(path), "rb") as f:
        index = parse_index(decode_utf8(f.read()))
    entries = list(_entry_texts(index, _read_dict(path), drop_markers))
    return batch_documents(entries, per_doc, "entries", "\n\n")
