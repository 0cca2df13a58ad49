# Extractor for plain text files (source code, reST, POD, TeX...): the whole file is one document.
from text import read_text


def extract_source(path, options):
    return [("", read_text(path))]
