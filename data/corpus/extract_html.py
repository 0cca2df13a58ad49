# Extractor for HTML pages: visible text only (no script/style/head/nav), block elements become line breaks.
from html.parser import HTMLParser
import re

from text import read_text

_HIDDEN = {"script", "style", "head", "nav", "noscript", "template", "svg"}
_BLOCKS = {
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "ol", "p", "pre",
    "section", "table", "tbody", "td", "th", "thead", "title", "tr", "ul",
}
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


class _TextCollector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self._chunks = []
        self._hidden_depth = 0
        self._pre_depth = 0

    def handle_starttag(self, tag, attrs):
        self._open(tag)

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCKS:
            self._chunks.append("\n")

    def handle_endtag(self, tag):
        if tag in _HIDDEN:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        if tag in _BLOCKS:
            self._chunks.append("\n")

    def handle_data(self, data):
        if self._hidden_depth:
            return
        if self._pre_depth:
            # Preformatted blocks (code listings) keep their layout.
            self._chunks.append(data)
            return
        collapsed = _SPACES.sub(" ", data)
        if not self._chunks or self._chunks[-1].endswith("\n"):
            collapsed = collapsed.lstrip(" ")
        if collapsed:
            self._chunks.append(collapsed)

    def _open(self, tag):
        if tag in _HIDDEN:
            self._hidden_depth += 1
        elif tag == "pre":
            self._pre_depth += 1
        if tag in _BLOCKS:
            self._chunks.append("\n")

    def text(self):
        return "\n".join(line.rstrip() for line in "".join(self._chunks).split("\n"))


def html_to_text(markup):
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    return collector.text()


def extract_html(path, options):
    return [("", html_to_text(read_text(path)))]
