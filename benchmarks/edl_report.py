#!/usr/bin/env python3
# Reads the metrics logs of an EDL reproduction sweep and writes the markdown report with its diverge plot SVGs.
import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

VARIANTS = ["baseline", "edl-coarse", "edl-fine", "random", "sequence"]
EDL_COARSE_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "edl", "edl-coarse.json")
SEED_RUN = re.compile(r"^(?P<variant>[a-z-]+?)(?:-b(?P<beta>[0-9.eE+-]+))?-s(?P<seed>\d+)$")


def fail(message):
    sys.exit("edl_report: " + message)


def read_records(path):
    """The JSON records of one metrics log; a last line cut mid-write (a live run) is skipped."""
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if f.readline():
                    fail(f"{path}:{number}: not a JSON record")
    return records


def summarise_run(path):
    """Final held-out losses, the last window's routing metrics (means over layers) and the wall time of one run;
    None while the run has no eval record yet (it is still training or was interrupted)."""
    records = read_records(path)
    train = [r for r in records if r.get("type") == "train"]
    evals = [r for r in records if r.get("type") == "eval"]
    if not train or not evals:
        return None
    last, final_eval = train[-1], evals[-1]
    layers = last.get("routing", {}).get("layers", [])
    if not layers:
        fail(f"{path}: the last train record has no routing.layers")
    dinter_share = [l["d_inter"] / l["d_total"] if l["d_total"] > 0 else 0.0 for l in layers]
    return {
        "step": last["step"],
        "tokens": last["tokens"],
        "val_mean": final_eval["val_loss_mean"],
        "val": final_eval["val_loss"],
        "lm": last["lm"],
        "edl": last["edl"],
        "jsd": statistics.fmean(l["jsd_mean"] for l in layers),
        "dinter_share": statistics.fmean(dinter_share),
        "specialised": statistics.fmean(l["specialised"] for l in layers),
        "elapsed_s": last["elapsed_s"],
    }


def batch_cut(summary):
    """How one run cut its batches, from its config.json and its tokens per step: ranks, sequences per micro-batch
    and rank, micro-batches per step, the EDL and load-balance scopes and the corpus."""
    with open(os.path.join(os.path.dirname(summary["path"]), "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    data = config["data"]
    rank_tokens = data["micro_batch"] * data["grad_accum"] * data["seq_len"]
    return {"ranks": summary["tokens"] // (summary["step"] * rank_tokens), "micro_batch": data["micro_batch"],
            "grad_accum": data["grad_accum"], "edl_scope": config["edl"]["scope"],
            "lb_scope": config["loss"]["lb_scope"], "corpus": data["corpus"]}


def common_cut(runs):
    """The batch cut every run shares; the report compares like with like, so runs that differ are an error."""
    cuts = {json.dumps(batch_cut(s), sort_keys=True) for seeds in runs.values() for s in seeds.values()}
    if len(cuts) > 1:
        fail("the runs cut their batches differently (ranks, micro-batch, scopes or corpus): " +
             "; ".join(sorted(cuts)))
    return json.loads(cuts.pop())


def domain_counts(corpus):
    """{label system: number of its domains} of a prepared corpus, from its manifest."""
    with open(os.path.join(corpus, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    return {system: len({shard["labels"][system] for shard in manifest["shards"]})
            for system in manifest["label_systems"]}


def edl_batch(cut):
    """Sequences in one EDL batch: a micro-batch of one rank, or under the global scope that of every rank."""
    return cut["micro_batch"] * (cut["ranks"] if cut["edl_scope"] == "global" else 1)


def batch_sentence(cut):
    """The batch cut in words, for the report's opening paragraph."""
    accum = f" x {cut['grad_accum']} micro-batches" if cut["grad_accum"] > 1 else ""
    ranks = f"{cut['ranks']} ranks" if cut["ranks"] > 1 else "one process"
    return (f"{ranks}, {cut['micro_batch']} sequences a micro-batch and rank{accum}: "
            f"{cut['ranks'] * cut['micro_batch'] * cut['grad_accum']} sequences a step. `edl.scope` "
            f"{cut['edl_scope']} (an EDL batch of {edl_batch(cut)} sequences), `loss.lb_scope` {cut['lb_scope']}.")


def domains_per_batch(cut):
    """How many sequences each domain holds in one EDL batch, and what that means for edl-fine against the
    sequence control."""
    counts = domain_counts(cut["corpus"])
    sequences = edl_batch(cut)
    share = ", ".join(f"each of its {n} {system} domains {sequences / n:.1f}" for system, n in
                      sorted(counts.items(), key=lambda item: item[1]))
    finest = max(counts.values())
    if sequences <= finest:
        consequence = ("Most domains of the finest label system thus hold at most one sequence of an EDL batch, "
                       "so edl-fine is close to the sequence control (exactly equal on every EDL batch whose fine "
                       "labels are all distinct).")
    else:
        consequence = ("A domain of the finest label system thus holds several sequences of an EDL batch, and "
                       "edl-fine compares domain means of pooled sequences where the sequence control compares "
                       "sequences.")
    return (f"EDL only compares domains inside one EDL batch, here {sequences} sequences, and on average the corpus "
            f"gives {share} of them. {consequence}")


def collect_runs(runs_dir):
    """{(variant, beta or None): {seed: summary}} for every finished run directory under runs_dir."""
    runs = {}
    for name in sorted(os.listdir(runs_dir)):
        match = SEED_RUN.match(name)
        metrics = os.path.join(runs_dir, name, "metrics.jsonl")
        if not match or not os.path.isfile(metrics):
            continue
        summary = summarise_run(metrics)
        if summary is None:
            print(f"edl_report: skipping {metrics}: no eval record yet", file=sys.stderr)
            continue
        key = (match["variant"], match["beta"])
        runs.setdefault(key, {})[int(match["seed"])] = dict(summary, path=metrics)
    return runs


def mean_spread(values):
    """'mean ± sample standard deviation' (just the value for one run)."""
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}"


def variant_rows(runs):
    return [(v, runs[(v, None)]) for v in VARIANTS if (v, None) in runs]


def loss_table(rows, domains):
    head = "| variant | seeds | val loss (mean over domains) | " + " | ".join(domains) + " |"
    lines = [head, "|" + "---|" * (3 + len(domains))]
    for variant, seeds in rows:
        cells = [variant, str(len(seeds)), mean_spread([s["val_mean"] for s in seeds.values()])]
        cells += [mean_spread([s["val"][d] for s in seeds.values()]) for d in domains]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def run_table(rows, domains):
    """Every seed run's final held-out losses, one row each."""
    lines = ["| variant | seed | val loss (mean over domains) | " + " | ".join(domains) + " |",
             "|" + "---|" * (3 + len(domains))]
    for variant, seeds in rows:
        for seed, summary in sorted(seeds.items()):
            cells = [variant, str(seed), f"{summary['val_mean']:.4f}"] + [f"{summary['val'][d]:.4f}" for d in domains]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def wall_ratio(seeds, baseline):
    """Mean over the seeds both have of elapsed_s / baseline's elapsed_s; None without a common seed."""
    common = [s for s in seeds if s in baseline]
    if not common:
        return None
    return statistics.fmean(seeds[s]["elapsed_s"] / baseline[s]["elapsed_s"] for s in common)


def routing_table(rows, baseline):
    lines = ["| variant | L_EDL (last log) | mean inter-domain JSD | D_inter / D_total | specialised experts | "
             "wall time vs baseline |", "|---|---|---|---|---|---|"]
    for variant, seeds in rows:
        ratio = wall_ratio(seeds, baseline) if baseline else None
        cells = [variant, mean_spread([s["edl"] for s in seeds.values()]),
                 mean_spread([s["jsd"] for s in seeds.values()]),
                 mean_spread([s["dinter_share"] for s in seeds.values()]),
                 mean_spread([s["specialised"] for s in seeds.values()]),
                 "n/a" if ratio is None else f"{ratio:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def sweep_table(runs, config_beta):
    sweep = sorted(((float(beta), seeds) for (v, beta), seeds in runs.items() if v == "edl-coarse" and beta),
                   key=lambda item: item[0])
    if ("edl-coarse", None) in runs:
        seed = min(runs[("edl-coarse", None)])
        sweep.append((config_beta, {seed: runs[("edl-coarse", None)][seed]}))
    if ("baseline", None) in runs:
        seed = min(runs[("baseline", None)])
        sweep.append((0.0, {seed: runs[("baseline", None)][seed]}))
    sweep.sort(key=lambda item: item[0])
    lines = ["| edl.beta | seed | val loss | mean inter-domain JSD | D_inter / D_total | specialised experts |",
             "|---|---|---|---|---|---|"]
    for beta, seeds in sweep:
        for seed, s in sorted(seeds.items()):
            lines.append(f"| {beta:g} | {seed} | {s['val_mean']:.4f} | {s['jsd']:.4f} | {s['dinter_share']:.3f} | "
                         f"{s['specialised']:.3f} |")
    return lines, [seeds[min(seeds)] for _, seeds in sweep], [f"beta {beta:g}" for beta, _ in sweep]


def verdict(rows):
    """Plain sentences comparing every EDL variant's held-out loss and routing with the baseline's."""
    by_name = dict(rows)
    if "baseline" not in by_name:
        return ["No baseline run: nothing to compare against."]
    base = [s["val_mean"] for s in by_name["baseline"].values()]
    base_jsd = statistics.fmean(s["jsd"] for s in by_name["baseline"].values())
    base_spread = statistics.stdev(base) if len(base) > 1 else None
    sentences = []
    for variant, seeds in rows:
        if variant == "baseline":
            continue
        vals = [s["val_mean"] for s in seeds.values()]
        delta = statistics.fmean(vals) - statistics.fmean(base)
        spread = statistics.stdev(vals) if len(vals) > 1 else None
        if base_spread is None or spread is None:
            size = "single seeds, so no spread to judge it by"
        else:
            noise = math.hypot(base_spread, spread)
            size = ("larger than" if abs(delta) > 2 * noise else "within") + \
                   f" twice the seed noise (2 x {noise:.4f}, both spreads combined, = {2 * noise:.4f})"
        direction = "lower (better)" if delta < 0 else "higher (worse)"
        jsd = statistics.fmean(s["jsd"] for s in seeds.values())
        sentences.append(f"- **{variant}**: held-out loss {direction} than baseline by {abs(delta):.4f} nats, "
                         f"{size}; mean inter-domain JSD {jsd:.4f} vs baseline {base_jsd:.4f}.")
    return sentences or ["Only the baseline finished: nothing to compare yet."]


def analyse(diverge, metrics_path):
    """analysis.json of `diverge analyze` on the run's final checkpoint in the coarse labels (made once per run);
    None while the run has written no checkpoint yet."""
    run_dir = os.path.dirname(metrics_path)
    output = os.path.join(run_dir, "analysis")
    report = os.path.join(output, "analysis.json")
    if not os.path.isfile(report):
        if not os.path.exists(os.path.join(run_dir, "checkpoints", "latest")):
            return None, output
        command = [diverge, "analyze", "--checkpoint", os.path.join(run_dir, "checkpoints"), "--labels", "coarse",
                   "--output", output]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            fail("diverge analyze failed: " + (result.stderr or result.stdout).strip())
    with open(report, encoding="utf-8") as f:
        return json.load(f), output


def analysis_row(variant, analysis):
    """Permutation-test loss rise and ablation selectivity of one analysed checkpoint, as a table row."""
    rises = [rise for layer in analysis["permutation"]["layers"] for rise in layer["loss_rise"].values()]
    own, others = [], []
    for entry in analysis["ablation"]["domains"]:
        changes = entry["loss_change"]
        own.append(changes[entry["domain"]])
        others += [change for domain, change in changes.items() if domain != entry["domain"]]
    mean_own, mean_others = statistics.fmean(own), statistics.fmean(others)
    return (f"| {variant} | {statistics.fmean(rises):.4f} | {max(rises):.4f} | {mean_own:.4f} | {mean_others:.4f} | "
            f"{mean_own - mean_others:+.4f} |")


def analysis_section(diverge, rows, stem):
    """`diverge analyze` on every variant's first seed: a table and the last layer's ternary plots."""
    base = os.path.basename(stem)
    lines = ["| variant | permutation: loss rise, mean over layers x domains | largest | ablation: own domain's "
             "loss change | other domains' | selectivity (own - others) |", "|---|---|---|---|---|---|"]
    pictures = []
    for variant, seeds in rows:
        analysis, folder = analyse(diverge, seeds[min(seeds)]["path"])
        if analysis is None:
            print(f"edl_report: {variant}: no checkpoint yet, left out of the analysis", file=sys.stderr)
            continue
        lines.append(analysis_row(variant, analysis))
        last = len(analysis["layers"]) - 1
        ternary = os.path.join(folder, f"layer{last}_ternary.svg")
        if os.path.isfile(ternary):
            target = f"{stem}-ternary-{variant}.svg"
            with open(ternary, encoding="utf-8") as src, open(target, "w", encoding="utf-8") as dst:
                # The plot's title names the layer; the report's copies sit side by side, so name the variant too.
                dst.write(src.read().replace(f">layer {last}: ", f">{variant}, layer {last}: ", 1))
            pictures += [f"![{variant}: layer {last} experts]({base}-ternary-{variant}.svg)", ""]
    return lines, pictures


def machine():
    """Core count and CPU model of this machine, e.g. '2 cores, AMD EPYC'."""
    model = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}"


def plot(diverge, metrics, labels, keys, output, title):
    command = [diverge, "plot", "--metrics", ",".join(metrics), "--labels", ",".join(labels), "--keys",
               ",".join(keys), "--x", "tokens", "--smooth", "0.9", "--title", title, "--output", output]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        fail("diverge plot failed: " + (result.stderr or result.stdout).strip())


def main():
    parser = argparse.ArgumentParser(description="Writes the EDL reproduction report from run directories.")
    parser.add_argument("--runs", required=True, help="directory holding <variant>-s<seed> run directories")
    parser.add_argument("--diverge", required=True, help="the diverge binary (for diverge plot)")
    parser.add_argument("--output", required=True, help="markdown report; SVGs are written next to it")
    parser.add_argument("--title", required=True)
    parser.add_argument("--command", default="", help="the command line that produced the runs")
    parser.add_argument("--commit", default="", help="the commit the runs were trained at")
    args = parser.parse_args()

    runs = collect_runs(args.runs)
    rows = variant_rows(runs)
    if not rows:
        fail(f"{args.runs}: no finished <variant>-s<seed> runs")
    first = next(iter(rows[0][1].values()))
    domains = sorted(first["val"])
    baseline = runs.get(("baseline", None))
    config_beta = json.load(open(EDL_COARSE_CONFIG, encoding="utf-8"))["edl"]["beta"]

    stem = os.path.splitext(args.output)[0]
    base = os.path.basename(stem)
    seed_metrics = [seeds[min(seeds)]["path"] for _, seeds in rows]
    seed_labels = [v for v, _ in rows]
    n_layers = len(read_records(seed_metrics[0])[0]["routing"]["layers"])
    plot(args.diverge, seed_metrics, seed_labels,
         ["lm", "val_loss_mean"] + [f"val_loss.{d}" for d in domains] + ["edl"], stem + "-loss.svg",
         "Loss per variant (first seed)")
    plot(args.diverge, seed_metrics, seed_labels,
         [f"routing.layers.{l}.{k}" for l in (0, n_layers - 1) for k in ("jsd_mean", "d_inter", "specialised")],
         stem + "-routing.svg", "Routing per variant (first seed; first and last MoE layer)")
    sweep_lines, sweep_runs, sweep_labels = sweep_table(runs, config_beta)
    swept = any(v == "edl-coarse" and beta for v, beta in runs)
    if swept:
        plot(args.diverge, [s["path"] for s in sweep_runs], sweep_labels,
             ["lm", "val_loss_mean", "edl", "routing.layers.0.jsd_mean"], stem + "-beta.svg",
             "edl-coarse beta sweep")

    analysis_lines, ternaries = analysis_section(args.diverge, rows, stem)

    steps, tokens = first["step"], first["tokens"]
    cut = common_cut(runs)
    out = [f"# {args.title}", "",
           f"Produced by `{args.command}`" if args.command else "",
           f"on {machine()}, commit {args.commit or 'not given'}, report written {time.strftime('%Y-%m-%d')}.", "",
           f"Model and data: `configs/edl/*.json` (identical but for `edl`; EDL variants at beta {config_beta:g}). "
           f"Every run: {steps} steps, {tokens:,} training tokens; {batch_sentence(cut)} "
           "Losses are the final held-out (val split) cross-entropy in nats, per coarse domain and their mean; "
           "± is the sample standard deviation over seeds. "
           "Routing columns are the last logging window of each run, averaged over MoE layers "
           "(routing metrics in the coarse label system, whatever labels EDL trained on). Wall time is the ratio "
           "of `elapsed_s` to the baseline run of the same seed.", "",
           "## Held-out loss", ""] + loss_table(rows, domains) + [
           "", "<details><summary>Every run</summary>", ""] + run_table(rows, domains) + ["", "</details>"] + [
           "", "## Routing and cost", ""] + routing_table(rows, baseline) + [
           "", "## What this shows", ""] + verdict(rows) + [
           "", domains_per_batch(cut),
           "", "## What the experts learned (`diverge analyze`, first seed)", "",
           "On the final checkpoint, the val rows of each coarse domain. Permutation test: one layer's expert "
           "identities shuffled at a time, the held-out loss rise (nats) per domain; a router whose experts are "
           "interchangeable scores 0. Ablation: for each domain, its most-used experts of every layer disabled; "
           "selectivity is how much more that hurts the domain itself than the other domains, the signature of "
           "domain-specialised experts. Ternary plots: each expert of the last MoE layer at its share of the three "
           "domains' routed tokens (a corner is an expert used by one domain only).", ""] + analysis_lines + [
           ""] + ternaries
    if swept:
        out += ["## beta sweep (edl-coarse)", ""] + sweep_lines + [""]
    out += ["## Curves", "", f"![loss curves]({base}-loss.svg)", "", f"![routing curves]({base}-routing.svg)"]
    if swept:
        out += ["", f"![beta sweep]({base}-beta.svg)"]
    with open(args.output, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    print(f"edl_report: wrote {args.output}")


if __name__ == "__main__":
    main()
