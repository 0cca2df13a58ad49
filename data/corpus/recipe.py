# Corpus recipes: the JSON file that says which Debian packages, paths and extractors feed each fine domain.
from dataclasses import dataclass, field
import json
import re

from errors import CorpusError
from extractors import EXTRACTORS
from globs import PathFilter

MB = 1_000_000
_FINE_NAME = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")


@dataclass
class Source:
    package: str
    license: str
    extractor: str
    include: list
    exclude: list
    options: dict
    cap_bytes: int | None
    parallel_key: tuple | None  # (compiled pattern, replacement) mapping a path to its language-free source document
    optional: bool
    filter: PathFilter = field(repr=False)

    def archives(self):
        """Archives inside the package (`path/in/deb.tar.xz!/member glob`) whose members this source reads."""
        return sorted({pattern.split("!/", 1)[0] for pattern in self.include if "!/" in pattern})

    def split_group(self, path):
        """The key that keeps translations of one document in one split, or None when the path has none."""
        if self.parallel_key is None:
            return None
        pattern, replacement = self.parallel_key
        key, count = pattern.subn(replacement, path)
        return key if count else None


@dataclass
class Domain:
    fine: str
    cap_bytes: int
    sources: list

    @property
    def coarse(self):
        return self.fine.split(".", 1)[0]


@dataclass
class Recipe:
    name: str
    max_doc_bytes: int
    min_doc_bytes: int
    val_fraction: float
    min_val_docs: int
    domains: list

    def packages(self):
        return sorted({source.package for domain in self.domains for source in domain.sources})


class _Checker:
    """Reads typed values out of the recipe JSON; every error names the file and the key path."""

    def __init__(self, filename):
        self.filename = filename

    def fail(self, where, problem):
        raise CorpusError(f"{self.filename}: {where}: {problem}")

    def get(self, obj, key, where, kind, default=None, required=True):
        if key not in obj:
            if required:
                self.fail(f"{where}.{key}" if where else key, "missing")
            return default
        value = obj[key]
        kinds = (int, float) if kind is float else kind
        if not isinstance(value, kinds) or (isinstance(value, bool) and kind is not bool):
            self.fail(f"{where}.{key}" if where else key, f"must be of type {kind.__name__}")
        return value

    def strings(self, obj, key, where, required=True):
        values = self.get(obj, key, where, list, default=[], required=required)
        if not all(isinstance(v, str) and v for v in values) or (required and not values):
            self.fail(f"{where}.{key}", "must be a non-empty list of non-empty strings" if required
                      else "must be a list of non-empty strings")
        return values

    def unknown_keys(self, obj, allowed, where):
        extra = sorted(set(obj) - set(allowed))
        if extra:
            self.fail(where or "recipe", f"unknown key {extra[0]!r}")

    def positive_mb(self, obj, key, where, required=True):
        value = self.get(obj, key, where, float, required=required)
        if value is None:
            return None
        if value <= 0:
            self.fail(f"{where}.{key}", "must be a positive number of MB")
        return int(value * MB)


def _parse_options(check, spec, extractor, where):
    options = check.get(spec, "options", where, dict, default={}, required=False)
    accepted = EXTRACTORS[extractor].options
    for name, value in options.items():
        if name not in accepted:
            check.fail(f"{where}.options.{name}", f"not an option of the {extractor!r} extractor")
        check.get(options, name, f"{where}.options", accepted[name])
        if accepted[name] is list and not all(isinstance(v, str) for v in options[name]):
            check.fail(f"{where}.options.{name}", "must be a list of strings")
        if accepted[name] is int and options[name] < 1:
            check.fail(f"{where}.options.{name}", "must be at least 1")
    return options


def _parse_parallel_key(check, spec, where):
    rule = check.get(spec, "parallel_key", where, dict, required=False)
    if rule is None:
        return None
    check.unknown_keys(rule, {"pattern", "replace"}, f"{where}.parallel_key")
    pattern = check.get(rule, "pattern", f"{where}.parallel_key", str)
    try:
        return re.compile(pattern), check.get(rule, "replace", f"{where}.parallel_key", str)
    except re.error as e:
        check.fail(f"{where}.parallel_key.pattern", f"bad regular expression ({e})")


def _parse_source(check, spec, where):
    if not isinstance(spec, dict):
        check.fail(where, "must be an object")
    check.unknown_keys(spec, {"package", "license", "extractor", "include", "exclude", "options", "cap_mb",
                              "parallel_key", "optional"}, where)
    extractor = check.get(spec, "extractor", where, str)
    if extractor not in EXTRACTORS:
        check.fail(f"{where}.extractor", f"unknown extractor {extractor!r} (known: {', '.join(sorted(EXTRACTORS))})")
    include = check.strings(spec, "include", where)
    exclude = check.strings(spec, "exclude", where, required=False)
    try:
        path_filter = PathFilter(include, exclude)
    except (ValueError, re.error) as e:
        check.fail(f"{where}.include", str(e))
    return Source(
        package=check.get(spec, "package", where, str),
        license=check.get(spec, "license", where, str),
        extractor=extractor,
        include=include,
        exclude=exclude,
        options=_parse_options(check, spec, extractor, where),
        cap_bytes=check.positive_mb(spec, "cap_mb", where, required=False),
        parallel_key=_parse_parallel_key(check, spec, where),
        optional=check.get(spec, "optional", where, bool, default=False, required=False),
        filter=path_filter,
    )


def _parse_domain(check, spec, where):
    if not isinstance(spec, dict):
        check.fail(where, "must be an object")
    check.unknown_keys(spec, {"fine", "cap_mb", "sources"}, where)
    fine = check.get(spec, "fine", where, str)
    if not _FINE_NAME.match(fine):
        check.fail(f"{where}.fine", f"{fine!r} is not of the form coarse.fine (lower case, dot-separated)")
    sources = check.get(spec, "sources", where, list)
    if not sources:
        check.fail(f"{where}.sources", "must list at least one source")
    return Domain(fine=fine, cap_bytes=check.positive_mb(spec, "cap_mb", where),
                  sources=[_parse_source(check, s, f"{where}.sources[{i}]") for i, s in enumerate(sources)])


def parse_recipe(data, filename):
    check = _Checker(filename)
    if not isinstance(data, dict):
        check.fail("recipe", "must be a JSON object")
    check.unknown_keys(data, {"name", "description", "max_doc_bytes", "min_doc_bytes", "val_fraction",
                              "min_val_docs", "domains"}, "")
    domains_spec = check.get(data, "domains", "", list)
    domains = [_parse_domain(check, d, f"domains[{i}]") for i, d in enumerate(domains_spec)]
    names = [d.fine for d in domains]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        check.fail("domains", f"fine domain {duplicate!r} is listed twice")
    recipe = Recipe(
        name=check.get(data, "name", "", str),
        max_doc_bytes=check.get(data, "max_doc_bytes", "", int, default=65536, required=False),
        min_doc_bytes=check.get(data, "min_doc_bytes", "", int, default=64, required=False),
        val_fraction=check.get(data, "val_fraction", "", float, default=0.02, required=False),
        min_val_docs=check.get(data, "min_val_docs", "", int, default=3, required=False),
        domains=domains,
    )
    if recipe.max_doc_bytes < 1024:
        check.fail("max_doc_bytes", "must be at least 1024")
    if not 0 <= recipe.val_fraction < 0.5:
        check.fail("val_fraction", "must be in [0, 0.5)")
    if recipe.min_doc_bytes < 0 or recipe.min_val_docs < 0:
        check.fail("min_doc_bytes" if recipe.min_doc_bytes < 0 else "min_val_docs", "must not be negative")
    return recipe


def load_recipe(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise CorpusError(f"{path}: cannot read recipe ({e.strerror})") from e
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from e
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path}: not UTF-8") from e
    return parse_recipe(data, str(path))
