# Deterministic per-domain sampling: candidates in hash order, documents cleaned, deduplicated and capped in bytes.
from collections import Counter
from dataclasses import dataclass
import hashlib

from errors import Rejected
from extractors import EXTRACTORS
from text import looks_binary, normalise, split_long


@dataclass
class Candidate:
    source: object       # recipe.Source
    source_id: str       # "deb:PKG/VERSION:path"
    rel_path: str        # the path inside the package (archive members as `archive!/member`)
    disk_path: str


@dataclass
class Document:
    text: str
    coarse: str
    fine: str
    source: str
    license: str
    split_key: str       # documents with one key share a split (a file's parts, a text's translations)
    split: str = "train"


@dataclass
class Limits:
    max_doc_bytes: int
    min_doc_bytes: int


def order_key(identifier):
    """Where an item falls in the sampling order: a hash of its name, so order is unrelated to path or size."""
    return hashlib.blake2b(identifier.encode("utf-8"), digest_size=8).hexdigest(), identifier


def content_digest(text):
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class DomainSampler:
    """Fills one fine domain up to its byte cap; `seen` (content digests) is shared across domains for dedup."""

    def __init__(self, domain, limits, seen):
        self.domain = domain
        self.limits = limits
        self.seen = seen
        self.documents = []
        self.bytes = 0
        self.files_read = 0
        self.dropped = Counter()
        self._source_bytes = Counter()

    def full(self):
        return self.bytes >= self.domain.cap_bytes

    def _source_full(self, source):
        return source.cap_bytes is not None and self._source_bytes[id(source)] >= source.cap_bytes

    def run(self, candidates):
        for candidate in sorted(candidates, key=lambda c: order_key(c.source_id)):
            if self.full():
                break
            if not self._source_full(candidate.source):
                self._take_file(candidate)
        return self.documents

    def _take_file(self, candidate):
        source = candidate.source
        self.files_read += 1
        try:
            extracted = EXTRACTORS[source.extractor].function(candidate.disk_path, source.options)
        except Rejected as e:
            self.dropped[str(e)] += 1
            return
        for suffix, text in sorted(extracted, key=lambda d: order_key(candidate.source_id + d[0])):
            if self.full() or self._source_full(source):
                return
            self._take_document(candidate, suffix, normalise(text))

    def _take_document(self, candidate, suffix, text):
        if looks_binary(text):
            self.dropped["binary-looking"] += 1
            return
        if len(text.encode("utf-8")) < max(self.limits.min_doc_bytes, 1):
            self.dropped["too short"] += 1
            return
        digest = content_digest(text)
        if digest in self.seen:
            self.dropped["duplicate"] += 1
            return
        self.seen.add(digest)
        group = candidate.source.split_group(candidate.rel_path) or digest
        parts = split_long(text, self.limits.max_doc_bytes)
        for number, part in enumerate(parts):
            if number and (self.full() or self._source_full(candidate.source)):
                return
            name = candidate.source_id + suffix + (f"#part-{number}" if len(parts) > 1 else "")
            self.documents.append(Document(text=part, coarse=self.domain.coarse, fine=self.domain.fine,
                                           source=name, license=candidate.source.license, split_key=group))
            size = len(part.encode("utf-8"))
            self.bytes += size
            self._source_bytes[id(candidate.source)] += size
