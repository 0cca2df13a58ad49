# Extractor for fortune(6) files: fortunes separated by `%` lines, batched into documents of N fortunes.
from text import batch_documents, read_text

DEFAULT_PER_DOC = 100


def split_fortunes(text):
    fortunes, current = [], []
    for line in text.splitlines():
        if line.strip() == "%":
            if "".join(current).strip():
                fortunes.append("\n".join(current).strip("\n"))
            current = []
        else:
            current.append(line)
    if "".join(current).strip():
        fortunes.append("\n".join(current).strip("\n"))
    return fortunes


def extract_fortunes(path, options):
    per_doc = int(options.get("per_doc", DEFAULT_PER_DOC))
    return batch_documents(split_fortunes(read_text(path)), per_doc, "fortunes", "\n%\n")
