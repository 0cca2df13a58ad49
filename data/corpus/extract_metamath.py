# Extractor for Metamath databases (.mm): the file cut at its section-heading comments, sections packed to ~N KB.
import re

from text import pack_pieces, read_text

DEFAULT_TARGET_BYTES = 20000
# set.mm marks headings with a `$(` comment whose next non-blank line is a rule of one of these patterns.
_HEADING_RULE = re.compile(r"^\s*(####|#\*#\*|=-=-|-\.-\.)")


def _is_heading(lines, i):
    if lines[i].strip() != "$(":
        return False
    for line in lines[i + 1:i + 4]:
        if line.strip():
            return bool(_HEADING_RULE.match(line))
    return False


def split_sections(text):
    lines = text.splitlines(keepends=True)
    cuts = [i for i in range(len(lines)) if _is_heading(lines, i)]
    bounds = sorted({0, *cuts, len(lines)})
    return ["".join(lines[a:b]) for a, b in zip(bounds, bounds[1:])]


def extract_metamath(path, options):
    target = int(options.get("target_bytes", DEFAULT_TARGET_BYTES))
    documents = pack_pieces(split_sections(read_text(path)), target)
    return [(f"#section-{i}", document) for i, document in enumerate(documents)]
