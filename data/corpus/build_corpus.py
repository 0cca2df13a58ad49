# Builds a domain-labelled JSONL corpus from Debian packages as a recipe says (download, unpack, extract, sample).
import argparse
from pathlib import Path
import sys
import time

from archives import unpack_members
import debian
from errors import CorpusError
from output import write_corpus
from recipe import MB, load_recipe
from report import coarse_stats, domain_stats, format_table
from sampling import Candidate, DomainSampler, Limits
from splitting import assign_splits


class Log:
    def __init__(self):
        self.start = time.monotonic()

    def __call__(self, message):
        print(f"[{time.monotonic() - self.start:7.1f}s] {message}", flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Build a domain-labelled JSONL corpus from Debian packages.")
    parser.add_argument("--recipe", required=True, type=Path, help="recipe JSON (data/corpus/recipes/*.json)")
    parser.add_argument("--cache", default=Path("corpus-cache"), type=Path,
                        help="cache folder for .debs and unpacked trees (default: corpus-cache)")
    parser.add_argument("--out", type=Path, help="output folder (default: CACHE/out/RECIPE-NAME)")
    parser.add_argument("--offline", action="store_true", help="use only .debs already in the cache")
    return parser.parse_args(argv)


def fetch_packages(recipe, deb_dir, offline, log):
    """{name: Package}; sources whose optional package cannot be had are dropped from the recipe, with a note."""
    names = recipe.packages()
    unavailable = [] if offline else debian.download(deb_dir, names, log)
    packages = debian.resolve(deb_dir, names)
    required = {s.package for d in recipe.domains for s in d.sources if not s.optional}
    missing_required = sorted(n for n in required if n not in packages)
    if missing_required:
        raise CorpusError(f"packages not available{' in the cache' if offline else ''}: {', '.join(missing_required)}")
    for name in sorted(set(unavailable) | (set(names) - set(packages))):
        log(f"optional package {name} is not available: its sources are skipped")
    for domain in recipe.domains:
        domain.sources = [s for s in domain.sources if s.package in packages]
    return packages


def unpack_packages(recipe, packages, unpacked_dir, log):
    """{name: unpacked root}; archives inside packages are streamed once for all the sources that read them."""
    roots = {}
    for i, name in enumerate(sorted(packages), 1):
        package = packages[name]
        roots[name] = debian.unpack(package, unpacked_dir)
        log(f"package {i}/{len(packages)} {name} {package.version} ({package.deb.stat().st_size / MB:.1f} MB .deb)")
    for (name, archive), sources in sorted(_archive_readers(recipe).items()):
        def wanted(path, readers=sources):
            return any(s.filter.matches(path) for s in readers)
        selection = "\n".join(sorted(repr((s.include, s.exclude)) for s in sources))
        count = unpack_members(roots[name], archive, wanted, selection)
        log(f"archive {name}:{archive}: " + ("reused" if count is None else f"{count} members copied"))
    return roots


def _archive_readers(recipe):
    readers = {}
    for domain in recipe.domains:
        for source in domain.sources:
            for archive in source.archives():
                readers.setdefault((source.package, archive), []).append(source)
    return readers


def candidates_for(domain, packages, roots, listings):
    found = []
    for source in domain.sources:
        package = packages[source.package]
        root = roots[source.package]
        if source.package not in listings:
            listings[source.package] = debian.list_files(root)
        for rel in listings[source.package]:
            if source.filter.matches(rel):
                found.append(Candidate(source, f"deb:{package.name}/{package.version}:{rel}", rel, str(root / rel)))
    return found


def sample_domains(recipe, packages, roots, log):
    limits = Limits(recipe.max_doc_bytes, recipe.min_doc_bytes)
    seen, listings, documents, dropped = set(), {}, [], {}
    for i, domain in enumerate(recipe.domains, 1):
        started = time.monotonic()
        candidates = candidates_for(domain, packages, roots, listings)
        sampler = DomainSampler(domain, limits, seen)
        documents += sampler.run(candidates)
        dropped[domain.fine] = dict(sorted(sampler.dropped.items()))
        drops = ", ".join(f"{n} {why}" for why, n in sorted(sampler.dropped.items())) or "none"
        log(f"domain {i}/{len(recipe.domains)} {domain.fine}: {len(sampler.documents)} docs, "
            f"{sampler.bytes / MB:.2f}/{domain.cap_bytes / MB:g} MB from {sampler.files_read} of "
            f"{len(candidates)} files ({time.monotonic() - started:.1f}s; dropped: {drops})")
    return documents, dropped


def build(args):
    log = Log()
    recipe = load_recipe(args.recipe)
    out_dir = args.out or args.cache / "out" / recipe.name
    log(f"recipe {recipe.name}: {len(recipe.domains)} fine domains, {len(recipe.packages())} packages")
    packages = fetch_packages(recipe, args.cache / "debs", args.offline, log)
    roots = unpack_packages(recipe, packages, args.cache / "unpacked", log)
    documents, dropped = sample_domains(recipe, packages, roots, log)
    assign_splits(documents, recipe.val_fraction, recipe.min_val_docs)
    stats = domain_stats(documents)
    summary = {
        "recipe": recipe.name,
        "packages": {name: p.version for name, p in sorted(packages.items())},
        "fine": stats,
        "coarse": coarse_stats(stats),
        "dropped": dropped,
    }
    paths = write_corpus(out_dir, documents, summary)
    log(f"wrote {', '.join(str(p) for p in paths)}")
    print(format_table(stats), flush=True)


def main(argv=None):
    args = parse_args(argv)
    try:
        build(args)
    except CorpusError as e:
        print(f"build_corpus: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
