# Extractor for HTML pages: visible text only (no script/style/head/nav), block elements become line breaks.
from html.parser import HTMLParser
import re

from text import read_text

_HIDDEN = {"script", "style", "head", "nav", "noscript", "template", "svg"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
_BLOCKS = {
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "ol", "p", "pre",
    "section", "table", "tbody", "td", "th", "thead", "title", "tr", "ul",
}
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


class _TextCollector(HTMLParser):
    """Collects text; a hidden element (by tag, class or id) is skipped with everything nested in it.

    The end of a hidden element is found by counting only start and end tags of its own name, so unclosed
    <p> or <li> inside it (common in generated HTML) cannot make the skip run past it.
    """

    def __init__(self, drop_classes, drop_ids):
        super().__init__(convert_charrefs=True)
        self._drop_classes = set(drop_classes)
        self._drop_ids = set(drop_ids)
        self._chunks = []
        self._skip_tag = None
        self._skip_depth = 0
        self._pre_depth = 0

    def _hidden(self, tag, attrs):
        if tag in _HIDDEN:
            return True
        values = dict(attrs)
        classes = set((values.get("class") or "").split())
        return bool(classes & self._drop_classes) or values.get("id") in self._drop_ids

    def handle_starttag(self, tag, attrs):
        if self._skip_depth:
            self._skip_depth += tag == self._skip_tag
            return
        if self._hidden(tag, attrs) and tag not in _VOID:
            self._skip_tag, self._skip_depth = tag, 1
            return
        if tag == "pre":
            self._pre_depth += 1
        self._break_line(tag)

    def handle_startendtag(self, tag, attrs):
        if not self._skip_depth:
            self._break_line(tag)

    def handle_endtag(self, tag):
        if self._skip_depth:
            self._skip_depth -= tag == self._skip_tag
            return
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        self._break_line(tag)

    def handle_data(self, data):
        if self._skip_depth:
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

    def _break_line(self, tag):
        if tag in _BLOCKS:
            self._chunks.append("\n")

    def text(self):
        return "\n".join(line.rstrip() for line in "".join(self._chunks).split("\n"))


def html_to_text(markup, drop_classes=(), drop_ids=()):
    collector = _TextCollector(drop_classes, drop_ids)
    collector.feed(markup)
    collector.close()
    return collector.text()


def extract_html(path, options):
    text = html_to_text(read_text(path), options.get("drop_classes", ()), options.get("drop_ids", ()))
    return [("", text)]
