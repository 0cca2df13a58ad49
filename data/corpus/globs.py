# Path globs for corpus recipes: `*`, `?`, `**` (any number of folders) and `{a,b}` alternatives, compiled to regexes.
import re


def _expand_braces(pattern):
    """`a/{b,c}.x` -> [`a/b.x`, `a/c.x`]; nested braces are not needed by any recipe and are rejected."""
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    end = pattern.find("}", start)
    if end < 0 or "{" in pattern[start + 1:end]:
        raise ValueError(f"unbalanced or nested braces in glob {pattern!r}")
    head, body, tail = pattern[:start], pattern[start + 1:end], pattern[end + 1:]
    return [expanded for alt in body.split(",") for expanded in _expand_braces(head + alt + tail)]


def _translate(pattern):
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def compile_globs(patterns):
    """One regex that matches a whole relative path when any of the globs does (None for no globs)."""
    if not patterns:
        return None
    alternatives = [_translate(p) for pattern in patterns for p in _expand_braces(pattern)]
    return re.compile("(?:" + "|".join(alternatives) + r")\Z")


class PathFilter:
    """Include globs minus exclude globs, both matched against the whole relative path."""

    def __init__(self, include, exclude=()):
        self._include = compile_globs(include)
        self._exclude = compile_globs(list(exclude))

    def matches(self, path):
        if self._include is None or not self._include.match(path):
            return False
        return self._exclude is None or not self._exclude.match(path)
