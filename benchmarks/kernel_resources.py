# What ptxas gives each CUDA kernel: registers per thread, spills, stack and static shared memory, for one GPU arch.
"""Usage: kernel_resources.py [--arch sm_90a] [--out NAME.md] [--results-dir benchmarks/results] [--jobs 2]

Compiles every kernels/cuda/*.cu for the arch alone with ptxas' verbose report (no GPU needed) and prints one markdown
table row per kernel. Registers bound how many warps an SM holds (65536 registers: 255 a thread allows 8 warps of 32,
128 allows 16); any spill in a hot loop costs local-memory traffic. A static figure of the compiler, not a timing.
Standard library only; nvcc from $CUDACXX or /usr/local/cuda.
"""
import argparse
import concurrent.futures
import datetime
import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(\w+)'")
FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
USED = re.compile(r"Used (\d+) registers(?:, used (\d+) barriers)?(?:, (\d+) bytes smem)?")


def nvcc():
    return os.environ.get("CUDACXX", "/usr/local/cuda/bin/nvcc")


def ptxas_report(source, arch):
    """-> the ptxas lines for one .cu compiled for arch alone, as the build compiles it (C++20, -O3)."""
    command = [nvcc(), "-DDIVERGE_WITH_CUDA=1", f"-I{REPO}", "-O3", "-DNDEBUG", "-std=c++20",
               f"--generate-code=arch=compute_{arch[3:]},code=[{arch}]", "-Xptxas", "-v", "-x", "cu", "-c",
               str(source), "-o", os.devnull]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"kernel_resources: {source.name} does not compile for {arch}:\n{done.stderr}")
    return done.stderr.splitlines()


def demangled(names):
    done = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def short_name(name):
    """void diverge::cuda::(anonymous namespace)::kernel<(ns::Epilogue)1>(args) -> kernel<Epilogue 1>."""
    name = re.sub(r"\(anonymous namespace\)::|diverge::cuda::", "", name)
    name = re.sub(r"\((\w+)\)(-?\d+)", r"\1 \2", name)  # an enumerator as its type and value
    return name.removeprefix("void ").split("(", 1)[0]


def kernels_of(source, arch):
    """-> [(mangled name, registers, stack, spill stores, spill loads, static smem)] from one file's report."""
    rows, current, frame = [], None, None
    for line in ptxas_report(source, arch):
        if match := ENTRY.search(line):
            current, frame = match.group(1), None
        elif current and (match := FRAME.search(line)):
            frame = tuple(int(g) for g in match.groups())
        elif current and (match := USED.search(line)):
            stack, stores, loads = frame or (0, 0, 0)
            rows.append((current, int(match.group(1)), stack, stores, loads, int(match.group(3) or 0)))
            current = None
    return rows


def table(arch, jobs):
    sources = sorted((REPO / "kernels" / "cuda").glob("*.cu"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        per_file = list(pool.map(lambda s: (s.name, kernels_of(s, arch)), sources))
    lines = ["| file | kernel | registers | spill stores / loads (bytes) | stack (bytes) | static smem (bytes) |",
             "|---|---|---|---|---|---|"]
    for file, rows in per_file:
        names = demangled([r[0] for r in rows])
        for (_, registers, stack, stores, loads, smem), name in sorted(zip(rows, names), key=lambda p: p[1]):
            spill = f"**{stores} / {loads}**" if stores or loads else "0 / 0"
            lines.append(f"| {file} | `{short_name(name)}` | {registers} | {spill} | {stack} | {smem} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="sm_90a")
    parser.add_argument("--out", help="also write the table with its provenance to this file in --results-dir")
    parser.add_argument("--results-dir", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if not re.fullmatch(r"sm_\d+a?", args.arch):
        raise SystemExit(f"kernel_resources: --arch {args.arch!r} is not an arch like sm_90a")
    lines = table(args.arch, args.jobs)
    print("\n".join(lines))
    if args.out:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip() or "unknown"
        version = subprocess.run([nvcc(), "--version"], capture_output=True, text=True).stdout.strip().splitlines()
        header = [f"# CUDA kernel resources for {args.arch} (ptxas)", "",
                  f"- date: {datetime.date.today().isoformat()}", f"- commit: {commit}",
                  f"- compiler: {version[-1] if version else 'unknown'}",
                  f"- command: python3 benchmarks/kernel_resources.py --arch {args.arch} --out {args.out}", ""]
        (Path(args.results_dir) / args.out).write_text("\n".join(header + lines) + "\n")


if __name__ == "__main__":
    main()
