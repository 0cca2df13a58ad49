# Tokenizer benchmark (cl100k_base): builds a mixed ~10 MB corpus from Debian files, times diverge and tiktoken.
"""Usage: tokenizer_bench.py --diverge PATH --work DIR --results FILE [--reps N] [--commit C]
Run it pinned to one core (tokenizer_bench.sh does `taskset -c 0`) in the reference venv. Every repetition of
either tokenizer is a fresh process, so caches start cold each time. Encoding time excludes loading the vocabulary
and reading the file, and is the encoding thread's CPU time (on a shared machine wall time also counts the time
other processes held the core; both are reported). Ids must be identical: count and SHA-256 of the id stream.
"""
import argparse
import array
import gzip
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import date
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VOCAB = REPO / "data/vocab/tiktoken/cl100k_base.tiktoken"
FILE_CAP = 16 * 1024  # bytes taken from one file at most, so that no single file dominates its category

MATH_MAN_PAGES = re.compile(r"^(a?sinh?|a?cosh?|a?tanh?|atan2|cbrt|erfc?|exp2?|expm1|fma|frexp|hypot|j[01n]|ldexp|"
                            r"l?gamma|tgamma|log(2|10|1p)?|modf|nextafter|pow|remainder|sqrt|y[01n])\.3\.gz$")
SPECIAL_TOKEN = re.compile(r"<\|(endoftext|fim_prefix|fim_middle|fim_suffix|endofprompt)\|>")


def listed(directory, keep):
    """The regular files of one directory whose name passes keep, sorted by name."""
    if not os.path.isdir(directory):
        return []
    return [os.path.join(directory, n) for n in sorted(os.listdir(directory))
            if keep(n) and os.path.isfile(os.path.join(directory, n))]


def walked(directory, keep):
    """The regular files under directory whose name passes keep, depth first in name order, links not followed."""
    if not os.path.isdir(directory):
        return []
    out = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            out += walked(entry.path, keep)
        elif entry.is_file(follow_symlinks=False) and keep(entry.name):
            out.append(entry.path)
    return out


def docs(keep):
    root = "/usr/share/doc"
    return [f for pkg in sorted(os.listdir(root)) for f in listed(os.path.join(root, pkg), keep)]


# What the corpus is made of: each category takes files in sorted order, spread evenly over the candidates, until
# its quota is met. All sources are files that Debian packages install.
CATEGORIES = [
    ("prose (licences, copyright files, Debian changelogs)", 3.0e6,
     lambda: listed("/usr/share/common-licenses", lambda n: True) + docs(lambda n: n == "copyright")
     + docs(lambda n: n == "changelog.Debian.gz")),
    ("code (C headers, Python standard library)", 3.5e6,
     lambda: walked("/usr/include", lambda n: n.endswith(".h"))
     + listed("/usr/lib/python3.11", lambda n: n.endswith(".py"))),
    ("English man pages (troff)", 1.5e6, lambda: listed("/usr/share/man/man1", lambda n: n.endswith(".gz"))),
    ("maths (libm man pages, NumPy numerics with LaTeX docstrings, Python numeric modules, TeX styles)", 1.0e6,
     lambda: listed("/usr/share/man/man3", MATH_MAN_PAGES.match)
     + [f for d in ("polynomial", "linalg", "fft", "lib")
        for f in listed(f"/usr/lib/python3/dist-packages/numpy/{d}", lambda n: n.endswith(".py"))]
     + [f"/usr/lib/python3.11/{n}"
        for n in ("statistics.py", "fractions.py", "_pydecimal.py", "random.py", "numbers.py")]
     + walked("/usr/share/texmf", lambda n: n.endswith((".sty", ".tex")))),
    ("Cyrillic and CJK man pages (ru, uk, zh_CN, zh_TW, ja, ko)", 1.0e6,
     lambda: [f for lang in ("ru", "uk", "zh_CN", "zh_TW", "ja", "ko")
              for f in walked(f"/usr/share/man/{lang}", lambda n: n.endswith(".gz"))]),
]


def file_text(path):
    """The file's text (gunzipped if needed; a leading byte order mark dropped), or None when it is not UTF-8 or names
    a special token: every tokenizer here must see the same characters and none may treat part of it as special."""
    raw = Path(path).read_bytes()
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if SPECIAL_TOKEN.search(text) or text.startswith("\ufeff"):
        return None
    return text


def capped(text):
    """At most FILE_CAP bytes of text, cut at a line end."""
    raw = text.encode("utf-8")
    if len(raw) <= FILE_CAP:
        return text
    head = raw[:FILE_CAP]
    cut = head.rfind(b"\n")
    return head[:cut + 1 if cut > 0 else len(head)].decode("utf-8", errors="replace")


def build_category(quota, candidates):
    """Visits the candidates in an even spread (stride through the sorted list, then the ones skipped), so the
    quota is drawn from all of them rather than from the first directories in sort order."""
    stride = max(1, len(candidates) // max(1, -(-int(quota) // FILE_CAP)))
    order = [candidates[i] for start in range(stride) for i in range(start, len(candidates), stride)]
    parts, size = [], 0
    for path in order:
        if size >= quota:
            break
        text = file_text(path)
        if text is None or not text.strip():
            continue
        part = capped(text)
        parts.append(part)
        size += len(part.encode("utf-8")) + 2
    return "\n\n".join(parts), len(parts)


def build_corpus(work):
    work.mkdir(parents=True, exist_ok=True)
    built = [(name, *build_category(quota, files())) for name, quota, files in CATEGORIES]
    text = "\n\n".join(t for _, t, _ in built)
    path = work / "mixed.txt"
    path.write_text(text, encoding="utf-8")
    raw = text.encode("utf-8")
    composition = [(name, count, len(t.encode("utf-8"))) for name, t, count in built]
    return path, len(raw), hashlib.sha256(raw).hexdigest(), composition


def ids_digest(ids):
    return hashlib.sha256(array.array("I", ids).tobytes()).hexdigest()


def tiktoken_once(corpus):
    """Child mode: one timed encoding of the corpus by tiktoken (Rust core, Python binding), printed as JSON."""
    sys.path.insert(0, str(REPO / "tests/tokenizer"))
    start = time.perf_counter()
    from reference_tokenizers import openai_encoding
    encoding = openai_encoding("cl100k_base")
    load = time.perf_counter() - start
    text = Path(corpus).read_text(encoding="utf-8")
    wall, cpu = time.perf_counter(), time.thread_time()
    ids = encoding.encode_ordinary(text)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"load": load, "cpu": cpu, "wall": wall, "count": len(ids), "digest": ids_digest(ids)}))


def tiktoken_run(corpus):
    out = subprocess.run([sys.executable, __file__, "--tiktoken-once", str(corpus)], check=True, capture_output=True,
                         text=True, env={**os.environ, "RAYON_NUM_THREADS": "1"}).stdout
    return json.loads(out)


def diverge_run(diverge, corpus):
    result = subprocess.run([diverge, "tokenize", "--tokenizer", VOCAB, "--file", corpus, "--count", "--stats"],
                            capture_output=True, text=True)
    load = re.search(r"loaded in ([0-9.]+) s", result.stderr)
    encoded = re.search(r"into ([0-9]+) tokens .* in ([0-9.]+) s wall, ([0-9.]+) s CPU", result.stderr)
    if result.returncode != 0 or not load or not encoded:
        sys.exit(f"tokenizer_bench: diverge tokenize failed or printed unexpected --stats: {result.stderr}")
    return {"load": float(load[1]), "wall": float(encoded[2]), "cpu": float(encoded[3]), "count": int(encoded[1])}


def diverge_digest(diverge, corpus):
    out = subprocess.run([diverge, "tokenize", "--tokenizer", VOCAB, "--file", corpus], check=True,
                         capture_output=True, text=True).stdout
    return ids_digest(json.loads(out))


def median(values):
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def measure(label, reps, run_once):
    runs = [run_once() for _ in range(reps)]
    result = {"label": label, **{k: median([r[k] for r in runs]) for k in ("load", "cpu", "wall")},
              "count": runs[0]["count"], "digest": runs[0].get("digest")}
    print(f"{label}: median {result['cpu']:.3f} s CPU ({result['wall']:.3f} s wall) encode, "
          f"{result['load']:.3f} s load", file=sys.stderr)
    return result


def report(args, corpus, results):
    _, size, sha, composition = corpus
    ours = results[0]
    rows = [f"| {r['label']} | {size / 1e6 / r['cpu']:.2f} | {r['cpu']:.3f} | {r['wall']:.3f} | {r['load']:.3f} | "
            f"{r['count']} | {'yes' if (r['count'], r['digest']) == (ours['count'], ours['digest']) else 'NO'} | "
            f"{r['cpu'] / ours['cpu']:.2f} |" for r in results]
    lines = [
        "# Tokenizer speed: cl100k_base, one core", "",
        f"- Date: {date.today().isoformat()}",
        f"- Machine: {os.cpu_count()}-core x86 VM ({cpu_model()}), Python {platform.python_version()}; every process "
        "pinned to core 0",
        f"- Commit: {args.commit}",
        f"- Command: `benchmarks/tokenizer_bench.sh` (reps: {args.reps}; median reported)",
        f"- Corpus: {size / 1e6:.2f} MB of UTF-8, sha256 {sha[:16]}…, built from this machine's Debian files:",
        *[f"  - {name}: {count} files, {nbytes / 1e6:.2f} MB" for name, count, nbytes in composition], "",
        "Encoding time excludes loading the vocabulary and reading the file; it is the encoding thread's CPU time",
        "(wall time beside it). Every run is a fresh process (cold caches). \"same ids\": token count and SHA-256",
        "of the id stream equal to diverge's. \"diverge speed-up\": their CPU time / ours.", "",
        "| tokenizer | MB/s | encode s CPU | encode s wall | load s | tokens | same ids | diverge speed-up |",
        "|---|---|---|---|---|---|---|---|", *rows, "",
    ]
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text("\n".join(lines))
    print("\n".join(lines))


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main():
    if sys.argv[1:2] == ["--tiktoken-once"]:
        return tiktoken_once(sys.argv[2])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--diverge", required=True)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--results", required=True)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--commit", default="unknown")
    args = parser.parse_args()
    corpus = build_corpus(args.work)
    print(f"corpus: {corpus[0]}, {corpus[1] / 1e6:.2f} MB", file=sys.stderr)
    ours = measure(f"diverge ({VOCAB.name})", args.reps, lambda: diverge_run(args.diverge, corpus[0]))
    ours["digest"] = diverge_digest(args.diverge, corpus[0])
    theirs = measure(f"tiktoken=={version('tiktoken')} (OpenAI's Rust core, Python binding)", args.reps,
                     lambda: tiktoken_run(corpus[0]))
    results = [ours, theirs]
    report(args, corpus, results)
    if any((r["count"], r["digest"]) != (ours["count"], ours["digest"]) for r in results):
        sys.exit("tokenizer_bench: token ids differ between tokenizers")


if __name__ == "__main__":
    main()
