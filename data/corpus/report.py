# Build summaries: per-domain counts (docs, bytes, train/val) as a dict for summary.json and as a printed table.
from collections import defaultdict

MB = 1_000_000


def domain_stats(documents):
    """{fine: {coarse, docs, bytes, train_docs, val_docs, train_bytes, val_bytes}} in first-seen order."""
    stats = {}
    for doc in documents:
        row = stats.setdefault(doc.fine, defaultdict(int, coarse=doc.coarse))
        size = len(doc.text.encode("utf-8"))
        row["docs"] += 1
        row["bytes"] += size
        row[f"{doc.split}_docs"] += 1
        row[f"{doc.split}_bytes"] += size
    return {fine: dict(row) for fine, row in stats.items()}


def coarse_stats(fine_stats):
    totals = {}
    for row in fine_stats.values():
        total = totals.setdefault(row["coarse"], defaultdict(int))
        total["fine_domains"] += 1
        for key, value in row.items():
            if key != "coarse":
                total[key] += value
    return {coarse: dict(total) for coarse, total in sorted(totals.items())}


def _line(name, row):
    return (f"{name:<30} {row.get('docs', 0):>8} {row.get('bytes', 0) / MB:>9.2f} "
            f"{row.get('train_docs', 0):>8} {row.get('val_docs', 0):>6} {row.get('val_bytes', 0) / MB:>8.2f}")


def format_table(fine_stats):
    header = f"{'domain':<30} {'docs':>8} {'MB':>9} {'train':>8} {'val':>6} {'val MB':>8}"
    lines = [header, "-" * len(header)]
    lines += [_line(fine, row) for fine, row in sorted(fine_stats.items())]
    lines.append("-" * len(header))
    coarse = coarse_stats(fine_stats)
    lines += [_line(f"{name} ({row['fine_domains']} fine)", row) for name, row in coarse.items()]
    grand = defaultdict(int)
    for row in coarse.values():
        for key, value in row.items():
            grand[key] += value
    lines.append(_line("total", grand))
    return "\n".join(lines)
