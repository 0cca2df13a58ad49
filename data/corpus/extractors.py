# The registry of document extractors by recipe name, with the options each accepts and their types.
from collections import namedtuple

from extract_dictd import extract_dictd
from extract_fortunes import extract_fortunes
from extract_html import extract_html
from extract_man import extract_man
from extract_metamath import extract_metamath
from extract_rdata import extract_rdata
from extract_source import extract_source
from extract_sword import extract_sword

# function(path, options) -> [(document id suffix, text)]; options maps option name -> expected JSON type.
Extractor = namedtuple("Extractor", "function options")

EXTRACTORS = {
    "source": Extractor(extract_source, {}),
    "html": Extractor(extract_html, {"drop_classes": list, "drop_ids": list}),
    "man": Extractor(extract_man, {}),
    "dictd": Extractor(extract_dictd, {"per_doc": int, "drop_entries_containing": list}),
    "sword": Extractor(extract_sword, {}),
    "rdata": Extractor(extract_rdata, {"chapter_pattern": str}),
    "fortunes": Extractor(extract_fortunes, {"per_doc": int}),
    "metamath": Extractor(extract_metamath, {"target_bytes": int}),
}
