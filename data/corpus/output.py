# Writing a built corpus: one JSONL file per split (atomic renames) and a JSON summary of what went in.
import json
import os
from pathlib import Path

SPLITS = ("train", "val")


def document_line(doc):
    record = {"text": doc.text, "coarse": doc.coarse, "fine": doc.fine, "source": doc.source, "license": doc.license}
    return json.dumps(record, ensure_ascii=False) + "\n"


def _write_atomic(path, lines):
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(lines)
    os.replace(partial, path)


def write_corpus(out_dir, documents, summary):
    """Writes train.jsonl, val.jsonl (documents in sampling order) and summary.json; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for split in SPLITS:
        path = out_dir / f"{split}.jsonl"
        _write_atomic(path, (document_line(d) for d in documents if d.split == split))
        paths.append(path)
    summary_path = out_dir / "summary.json"
    _write_atomic(summary_path, [json.dumps(summary, indent=1, ensure_ascii=False, sort_keys=True) + "\n"])
    return paths + [summary_path]
