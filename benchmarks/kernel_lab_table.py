# Joins the kernel lab's two result files (ours and PyTorch's) into one markdown table per kernel, with the ratios.
"""Usage: kernel_lab_table.py --ours OURS.json --torch TORCH.json --out NAME.md [--results-dir benchmarks/results]

Both files are {"meta": {...}, "rows": [...]} with rows {"kernel", "shape", "impl", "seconds", "work", "unit",
"rate"} or, for an implementation that refused the shape, "error" instead of "seconds" and "rate"; our kernels are
impl "diverge", and our file may hold other lines too (the lab's "cublas dense" GEMMs at the experts' FLOPs). Per
kernel: one line per shape with ours, each other implementation and ours / each of them (above 1: ours is
faster). A (kernel, shape) whose two sides count different work, a kernel measured in two units or a
repeated row is an error: the rates would not be comparable. Standard library only.
"""
import argparse
import json
import math
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OURS = "diverge"
KERNEL_ORDER = ("attention_forward", "attention_backward", "expert_forward", "expert_backward", "rmsnorm_forward",
                "cross_entropy_forward", "adamw_step")


class LabError(ValueError):
    pass


def check_rows(rows, where):
    """-> {(kernel, shape, impl): row}; refuses a row without a rate or an error, and repeated rows."""
    indexed = {}
    for r in rows:
        missing = [k for k in ("kernel", "shape", "impl", "work", "unit") if k not in r]
        if missing or ("rate" in r) == ("error" in r):
            raise LabError(f"{where}: row {r} needs kernel, shape, impl, work, unit and a rate or an error")
        key = (r["kernel"], r["shape"], r["impl"])
        if key in indexed:
            raise LabError(f"{where}: {' / '.join(key)} appears twice")
        indexed[key] = r
    return indexed


def check_comparable(rows):
    """Every kernel in one unit; every (kernel, shape) with the same work on both sides."""
    units, work = {}, {}
    for r in rows:
        if units.setdefault(r["kernel"], r["unit"]) != r["unit"]:
            raise LabError(f"{r['kernel']}: measured in {units[r['kernel']]} and in {r['unit']}")
        shape = (r["kernel"], r["shape"])
        if not math.isclose(work.setdefault(shape, r["work"]), r["work"], rel_tol=1e-9):
            raise LabError(f"{' / '.join(shape)}: work {work[shape]} on one side, {r['work']} ({r['impl']}) on the"
                           " other: the two sides count it differently")


def in_order(values):
    return list(dict.fromkeys(values))


def kernels_in_order(rows):
    present = in_order(r["kernel"] for r in rows)
    return [k for k in KERNEL_ORDER if k in present] + [k for k in present if k not in KERNEL_ORDER]


def format_rate(rate):
    return f"{rate:.0f}" if rate >= 100 else f"{rate:.1f}" if rate >= 10 else f"{rate:.3g}"


def cell(r):
    if r is None:
        return "-"
    return "error" if "error" in r else format_rate(r["rate"])


def ratio(ours, theirs):
    if ours is None or theirs is None or "rate" not in ours or "rate" not in theirs:
        return "-"
    return f"{ours['rate'] / theirs['rate']:.2f}x"


def kernel_table(kernel, rows, indexed):
    """-> markdown lines: the kernel's table and, under it, the reason for each error cell."""
    mine = [r for r in rows if r["kernel"] == kernel]
    alternatives = in_order(r["impl"] for r in mine if r["impl"] != OURS)
    lines = [f"### {kernel} ({mine[0]['unit']})", "",
             "| shape | ours | " + " | ".join(alternatives + [f"ours / {a}" for a in alternatives]) + " |",
             "|---" * (2 + 2 * len(alternatives)) + "|"]
    errors = []
    for shape in in_order(r["shape"] for r in mine):
        ours = indexed.get((kernel, shape, OURS))
        theirs = [indexed.get((kernel, shape, a)) for a in alternatives]
        lines.append(f"| {shape} | {cell(ours)} | " + " | ".join([cell(t) for t in theirs] +
                                                                  [ratio(ours, t) for t in theirs]) + " |")
        errors += [f"- {r['impl']}, {shape}: {r['error']}" for r in [ours] + theirs if r is not None and "error" in r]
    return lines + ([""] + errors if errors else [])


def join(ours, theirs):
    """ours, theirs: the two {meta, rows} documents -> the markdown tables, one per kernel."""
    if not any(r.get("impl") == OURS for r in ours["rows"]):
        raise LabError(f"ours: no row of impl '{OURS}'")
    if any(r.get("impl") == OURS for r in theirs["rows"]):
        raise LabError(f"torch: impl '{OURS}' is ours")
    rows = ours["rows"] + theirs["rows"]
    indexed = check_rows(ours["rows"], "ours") | check_rows(theirs["rows"], "torch")
    check_comparable(rows)
    lines = []
    for kernel in kernels_in_order(rows):
        lines += kernel_table(kernel, rows, indexed) + [""]
    return lines


def commit():
    result = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def header(ours, theirs):
    o, t = ours["meta"], theirs["meta"]
    return ["# Kernel lab: our CUDA kernels beside PyTorch's on the same GPU", "",
            f"- Date: ours {o.get('date', '?')}, PyTorch {t.get('date', '?')}",
            f"- Device: ours {o.get('device', '?')}, PyTorch {t.get('device', '?')}",
            f"- Commit: {o.get('commit') or commit()}",
            f"- Commands: `{o.get('command', '?')}`; `{t.get('command', '?')}`",
            f"- PyTorch {t.get('torch', '?')}, CUDA {t.get('cuda', '?')}, cuDNN {t.get('cudnn', '?')}",
            "- Rates are work / median seconds (benchmarks/README.md, \"Kernel lab\", has the work formulas); a ratio"
            " above 1 means ours is faster.", ""]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ours", required=True, help="our kernel_lab's JSON")
    parser.add_argument("--torch", required=True, help="kernel_lab_torch.py's JSON")
    parser.add_argument("--out", required=True, help="file name of the table under --results-dir")
    parser.add_argument("--results-dir", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    ours, theirs = (json.loads(Path(path).read_text()) for path in (args.ours, args.torch))
    out = Path(args.results_dir) / args.out
    out.write_text("\n".join(header(ours, theirs) + join(ours, theirs)))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
