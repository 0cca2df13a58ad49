# The reference tokenizers: OpenAI's tiktoken and Hugging Face's tokenizers on the repository's vocabulary files.
"""Each vocabulary the parity checks cover has a reference encoder and a second opinion from the other library that
must agree with it. An encoder maps (text, special) to token ids:

  special False: ordinary text. Special-token strings such as "<|endoftext|>" are encoded as the text they spell;
                 Hugging Face added tokens that are not special (Qwen3's "<think>") still match, as they do in
                 `tokenizers` with encode_special_tokens (transformers' split_special_tokens).
  special True:  every special token of the vocabulary that appears in the text becomes its id.

Only local files are read. tiktoken builds its encodings (pattern, special tokens, rank file) itself: it finds the
rank files in a cache directory of links named as its loader names a cached download, and checks their sha256.
"""
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import tempfile
import unicodedata
from importlib.metadata import version
from pathlib import Path
from typing import Callable

import tiktoken
from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers

REPO = Path(__file__).resolve().parents[2]

# Published vocabularies, by sha256 (tiktoken pins the same hashes for its downloads). The other tokenizer.json
# files are made by `diverge tokenizer train` and may be remade.
VOCAB_SHA256 = {
    "data/vocab/tiktoken/r50k_base.tiktoken": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    "data/vocab/tiktoken/cl100k_base.tiktoken": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "data/vocab/tiktoken/o200k_base.tiktoken": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "data/vocab/gpt2/encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "data/vocab/gpt2/vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "data/vocab/qwen3/tokenizer.json": "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4",
}

# Where tiktoken's encodings download their files from (tiktoken_ext/openai_public.py) -> the file here.
TIKTOKEN_SOURCES = {
    "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken": "data/vocab/tiktoken/r50k_base.tiktoken",
    "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken":
        "data/vocab/tiktoken/cl100k_base.tiktoken",
    "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken":
        "data/vocab/tiktoken/o200k_base.tiktoken",
    "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe": "data/vocab/gpt2/vocab.bpe",
    "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json": "data/vocab/gpt2/encoder.json",
}

END_OF_TEXT = "<|endoftext|>"

Encoder = Callable[[str, bool], list]


class ReferenceError(Exception):
    """A reference cannot be built (a missing or altered file, a vocabulary it cannot stand in for)."""


def library(name):
    """'name==version' of an installed package, as the vector files record it."""
    return f"{name}=={version(name)}"


def checked_vocab_file(relative):
    """The repository's file at `relative`, refused when a published vocabulary differs from its pinned hash."""
    path = REPO / relative
    if not path.is_file():
        raise ReferenceError(f"{path}: missing")
    if relative in VOCAB_SHA256 and hashlib.sha256(path.read_bytes()).hexdigest() != VOCAB_SHA256[relative]:
        raise ReferenceError(f"{path}: not the pinned file (sha256 differs)")
    return path


@contextlib.contextmanager
def tiktoken_cache():
    """TIKTOKEN_CACHE_DIR set to links to the local files, under the names tiktoken gives cached downloads."""
    with tempfile.TemporaryDirectory(prefix="tiktoken-cache-") as cache:
        for url, relative in TIKTOKEN_SOURCES.items():
            os.symlink(checked_vocab_file(relative), Path(cache) / hashlib.sha1(url.encode()).hexdigest())
        saved = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = cache
        try:
            yield
        finally:
            if saved is None:
                del os.environ["TIKTOKEN_CACHE_DIR"]
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = saved


def openai_encoding(name):
    """tiktoken's own encoding `name` (r50k_base, cl100k_base, o200k_base, gpt2) on the repository's files."""
    with tiktoken_cache():
        return tiktoken.get_encoding(name)


def tiktoken_encoder(encoding):
    def encode(text, special):
        return encoding.encode(text, allowed_special="all") if special else encoding.encode_ordinary(text)

    return encode


def hugging_face_encoder(tokenizer):
    def encode(text, special):
        tokenizer.encode_special_tokens = not special
        return tokenizer.encode(text, add_special_tokens=False).ids

    return encode


def byte_level_alphabet():
    """GPT-2's printable stand-in for each byte: byte -> character (as `tokenizers`' ByteLevel maps them)."""
    printable = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    others = [b for b in range(256) if b not in printable]
    alphabet = {b: chr(b) for b in printable}
    alphabet.update({b: chr(256 + i) for i, b in enumerate(others)})
    return alphabet


BYTE_TO_CHAR = byte_level_alphabet()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def byte_level(token):
    return "".join(BYTE_TO_CHAR[b] for b in token)


def gpt2_tokenizer():
    """`tokenizers` on GPT-2's encoder.json + vocab.bpe, built as transformers builds GPT2TokenizerFast."""
    bpe = models.BPE.from_file(str(checked_vocab_file("data/vocab/gpt2/encoder.json")),
                               str(checked_vocab_file("data/vocab/gpt2/vocab.bpe")))
    tokenizer = Tokenizer(bpe)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.add_special_tokens([AddedToken(END_OF_TEXT, special=True)])
    return tokenizer


def split_into_two(ranks, token, rank):
    """The two tokens whose merge made `token`: BPE on its bytes with the merges ranked below it."""
    parts = [bytes([b]) for b in token]
    while True:
        pairs = [(ranks.get(parts[i] + parts[i + 1]), i) for i in range(len(parts) - 1)]
        pairs = [(r, i) for r, i in pairs if r is not None and r < rank]
        if not pairs:
            break
        _, i = min(pairs)
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    if len(parts) != 2:
        raise ReferenceError(f"token {token!r} (rank {rank}) is not the merge of two earlier tokens")
    return parts


def oniguruma_pattern(pattern):
    """tiktoken's pattern for `tokenizers`' regex engine, Oniguruma, which reads "{1,3}+" as "({1,3})+" (one or
    more runs of 1-3), not as a possessive "{1,3}". Where tiktoken uses it (cl100k's "\\p{N}{1,3}+") it ends its
    alternative, so the greedy "{1,3}" matches the same."""
    return re.sub(r"(\{\d+(?:,\d*)?\})\+", r"\1", pattern)


def tokenizer_from_ranks(encoding):
    """`tokenizers` standing in for a tiktoken encoding: byte-level BPE with the merges recovered from the ranks
    (merge i makes the token of rank 256 + i, so merging by merge order is tiktoken's merging by rank), the
    encoding's pattern as a Split pre-tokenizer and its special tokens."""
    ranks = encoding._mergeable_ranks
    merges = [tuple(byte_level(p) for p in split_into_two(ranks, token, rank))
              for token, rank in sorted(ranks.items(), key=lambda item: item[1]) if len(token) > 1]
    vocab = {byte_level(token): rank for token, rank in ranks.items()}
    vocab.update(encoding._special_tokens)  # so that each special token keeps its id when it is added below
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(oniguruma_pattern(encoding._pat_str)), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.add_special_tokens([AddedToken(name, special=True) for name in encoding._special_tokens])
    return tokenizer


def tiktoken_from_tokenizer_json(path):
    """tiktoken's core standing in for `tokenizers` on a byte-level BPE tokenizer.json: the file's vocabulary as
    ranks (valid because its merges are ordered like its ids, checked here), its Split pattern and normaliser,
    and its added tokens (the non-special ones always match)."""
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    vocab = spec["model"]["vocab"]
    previous = -1
    for merge in spec["model"]["merges"]:
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        if vocab[left + right] <= previous:
            raise ReferenceError(f"{path}: merge {left} {right} is out of id order: tiktoken cannot stand in")
        previous = vocab[left + right]
    ranks = {bytes(CHAR_TO_BYTE[c] for c in token): i for token, i in vocab.items()}
    split = next(p for p in spec["pre_tokenizer"]["pretokenizers"] if p["type"] == "Split")
    added = spec["added_tokens"]

    def core(keep):
        return tiktoken.Encoding(name=Path(path).stem, pat_str=split["pattern"]["Regex"], mergeable_ranks=ranks,
                                 special_tokens={t["content"]: t["id"] for t in added if keep(t)})

    everything, plain = core(lambda t: True), core(lambda t: not t["special"])
    normalize = normaliser_of(spec, path)

    def encode(text, special):
        return (everything if special else plain).encode(normalize(text), allowed_special="all")

    return encode


def normaliser_of(spec, path):
    """The file's normaliser in Python: only what the vocabularies here use (none, or NFC)."""
    normalizer = spec["normalizer"]
    if normalizer is None:
        return lambda text: text
    if normalizer["type"] == "NFC":
        return lambda text: unicodedata.normalize("NFC", text)
    raise ReferenceError(f"{path}: normalizer {normalizer['type']} has no tiktoken stand-in")


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    name: str                                  # the vector file's stem
    path: str                                  # what Diverge loads, relative to the repository
    reference: str                             # the library and what it runs
    second_opinion: str
    reference_encoder: Callable[[], Encoder]
    second_opinion_encoder: Callable[[], Encoder]


def openai_encoder(name):
    return lambda: tiktoken_encoder(openai_encoding(name))


def openai_stand_in(name):
    return lambda: hugging_face_encoder(tokenizer_from_ranks(openai_encoding(name)))


def gpt2_encoder():
    return hugging_face_encoder(gpt2_tokenizer())


def tokenizer_json_encoder(relative):
    return lambda: hugging_face_encoder(Tokenizer.from_file(str(checked_vocab_file(relative))))


def tokenizer_json_stand_in(relative):
    return lambda: tiktoken_from_tokenizer_json(checked_vocab_file(relative))


def vocabularies():
    tiktoken_lib, tokenizers_lib = library("tiktoken"), library("tokenizers")
    on_ranks = f"{tokenizers_lib} on merges recovered from the rank file, with the encoding's pattern and specials"
    on_json = f"{tiktoken_lib} core on the same vocabulary, split pattern, normaliser and added tokens"
    from_file = f"{tokenizers_lib} Tokenizer.from_file"
    out = [
        Vocabulary("r50k_base", "data/vocab/tiktoken/r50k_base.tiktoken", f"{tiktoken_lib} r50k_base",
                   f"{tokenizers_lib} on GPT-2's encoder.json + vocab.bpe (the same vocabulary)",
                   openai_encoder("r50k_base"), gpt2_encoder),
        Vocabulary("gpt2", "data/vocab/gpt2/encoder.json",
                   f"{tokenizers_lib} BPE.from_file(encoder.json, vocab.bpe) with the ByteLevel pre-tokenizer",
                   f"{tiktoken_lib} gpt2 (its own reading of the same two files)", gpt2_encoder,
                   openai_encoder("gpt2")),
    ]
    for name in ("cl100k_base", "o200k_base"):
        out.append(Vocabulary(name, f"data/vocab/tiktoken/{name}.tiktoken", f"{tiktoken_lib} {name}", on_ranks,
                              openai_encoder(name), openai_stand_in(name)))
    for name, relative in (("qwen3", "data/vocab/qwen3/tokenizer.json"),
                           ("bundled", "data/vocab/bundled/tokenizer.json"),
                           ("trained_bpe", "tests/tokenizer/trained/tokenizer.json")):
        out.append(Vocabulary(name, relative, from_file, on_json, tokenizer_json_encoder(relative),
                              tokenizer_json_stand_in(relative)))
    return out
