# Extractor for R lazy-load databases (Rdata.rdb) of character vectors, e.g. janeaustenr: novels cut into chapters.
import re
import struct
import zlib

from errors import Rejected
from text import decode_utf8

_STRSXP = 16
_CHARSXP = 9
_HAS_ATTRIBUTES = 1 << 9
_NA_LENGTH = -1
DEFAULT_CHAPTER_PATTERN = r"(?i)^\s*chapter\s+([0-9]+|[ivxlc]+)\b"


def rdb_streams(data):
    """The objects of an .rdb file: each is a big-endian u32 (uncompressed size) followed by one zlib stream."""
    streams, at = [], 0
    while at < len(data):
        if at + 4 > len(data):
            raise Rejected("truncated record header in .rdb")
        (size,) = struct.unpack_from(">I", data, at)
        inflater = zlib.decompressobj()
        try:
            payload = inflater.decompress(data[at + 4:])
        except zlib.error as e:
            raise Rejected("corrupt zlib stream in .rdb") from e
        if len(payload) != size or not inflater.eof:
            raise Rejected("an .rdb record's size differs from its header")
        streams.append(payload)
        at = len(data) - len(inflater.unused_data)
    return streams


class _XdrReader:
    def __init__(self, data):
        self._data = data
        self._at = 0

    def int32(self):
        if self._at + 4 > len(self._data):
            raise Rejected("truncated R serialization")
        (value,) = struct.unpack_from(">i", self._data, self._at)
        self._at += 4
        return value

    def raw(self, size):
        if size < 0 or self._at + size > len(self._data):
            raise Rejected("truncated R serialization")
        chunk = self._data[self._at:self._at + size]
        self._at += size
        return chunk


def character_vector(payload):
    """The strings of an XDR-serialized (format 2 or 3) plain character vector; NA becomes an empty line."""
    if not payload.startswith(b"X\n"):
        raise Rejected("not an XDR R serialization")
    reader = _XdrReader(payload[2:])
    version = reader.int32()
    reader.int32()
    reader.int32()
    if version == 3:
        reader.raw(reader.int32())  # the writer's native encoding name
    flags = reader.int32()
    if flags & 0xFF != _STRSXP or flags & _HAS_ATTRIBUTES:
        raise Rejected("R object is not a plain character vector")
    strings = []
    for _ in range(reader.int32()):
        if reader.int32() & 0xFF != _CHARSXP:
            raise Rejected("character vector holds a non-string element")
        length = reader.int32()
        strings.append("" if length == _NA_LENGTH else decode_utf8(reader.raw(length)))
    return strings


def split_chapters(lines, chapter_pattern):
    """Chapters of a novel, cut before every heading but the first: the title page stays with chapter 1."""
    heading = re.compile(chapter_pattern)
    cuts = [i for i, line in enumerate(lines) if heading.match(line)][1:]
    bounds = [0, *cuts, len(lines)]
    chapters = ("\n".join(lines[a:b]) for a, b in zip(bounds, bounds[1:]))
    return [chapter for chapter in chapters if chapter.strip()]


def extract_rdata(path, options):
    pattern = options.get("chapter_pattern", DEFAULT_CHAPTER_PATTERN)
    with open(path, "rb") as f:
        streams = rdb_streams(f.read())
    documents = []
    for number, payload in enumerate(streams):
        for chapter_no, chapter in enumerate(split_chapters(character_vector(payload), pattern)):
            documents.append((f"#object-{number}-chapter-{chapter_no}", chapter))
    return documents
