# Writes the tokenizer parity vectors (vectors/*.json) with tiktoken and tokenizers, each checked by the other.
"""Usage (in the reference venv, launch/reference-venv.sh):
  tests/reference/venv-python.sh tests/tokenizer/make_vectors.py            rewrite vectors/*.json
  tests/reference/venv-python.sh tests/tokenizer/make_vectors.py --check    exit 1 if any committed file differs
  ... [--only NAME,...]                                                      some vocabularies only

For every vocabulary of reference_tokenizers.vocabularies() it encodes each case of texts.json with the reference
and stops if the second opinion disagrees on any case. --check is how CI proves that the vectors the C++ parity
test reads are what the pinned libraries produce today.
"""
import argparse
import json
import sys
from pathlib import Path

import reference_tokenizers

HERE = Path(__file__).resolve().parent


def load_cases():
    cases = json.loads((HERE / "texts.json").read_text(encoding="utf-8"))["cases"]
    return [(c["text"], c["special"]) for c in cases]


def first_disagreement(cases, ids, other):
    for (text, special), expected in zip(cases, ids):
        got = other(text, special)
        if got != expected:
            return (f"{text[:80]!r} (special={special}):\n  reference:      {expected[:40]}\n"
                    f"  second opinion: {got[:40]}")
    return None


def vector_file_text(vocabulary, cases, ids):
    """The vector file: one case per line, so that a changed case shows as a one-line diff."""
    lines = [json.dumps({"text": text, "special": special, "ids": case_ids}, ensure_ascii=False,
                        separators=(",", ":")) for (text, special), case_ids in zip(cases, ids)]
    head = {"tokenizer": vocabulary.path, "reference": vocabulary.reference,
            "second_opinion": vocabulary.second_opinion}
    fields = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in head.items())
    body = ",\n".join("    " + line for line in lines)
    return "{\n" + fields + ',\n  "cases": [\n' + body + "\n  ]\n}\n"


def differences(path, text):
    """What differs between the committed vector file and the regenerated one, at most five lines."""
    if not path.exists():
        return [f"{path}: missing"]
    committed, fresh = json.loads(path.read_text(encoding="utf-8")), json.loads(text)
    out = [f"{path}: {key}: committed {committed.get(key)!r}, now {fresh[key]!r}"
           for key in ("tokenizer", "reference", "second_opinion") if committed.get(key) != fresh[key]]
    old_cases = {(c["text"], c["special"]): c["ids"] for c in committed.get("cases", [])}
    for case in fresh["cases"]:
        key = (case["text"], case["special"])
        if old_cases.get(key) != case["ids"]:
            out.append(f"{path}: {case['text'][:60]!r} (special={case['special']}): committed "
                       f"{(old_cases.get(key) or 'no such case')!s:.120}, the reference gives {case['ids'][:20]}")
    if len(committed.get("cases", [])) != len(fresh["cases"]):
        out.append(f"{path}: {len(committed.get('cases', []))} cases committed, texts.json has {len(fresh['cases'])}")
    return (out or [f"{path}: differs in layout only (rewrite it)"])[:5]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    parser.add_argument("--only", default="", help="comma-separated vocabulary names")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    cases = load_cases()
    problems = []
    for vocabulary in reference_tokenizers.vocabularies():
        if only and vocabulary.name not in only:
            continue
        encode = vocabulary.reference_encoder()
        ids = [encode(text, special) for text, special in cases]
        disagreement = first_disagreement(cases, ids, vocabulary.second_opinion_encoder())
        if disagreement:
            sys.exit(f"make_vectors: {vocabulary.name}: the references disagree on {disagreement}")
        text = vector_file_text(vocabulary, cases, ids)
        path = HERE / "vectors" / f"{vocabulary.name}.json"
        if not args.check:
            path.write_text(text, encoding="utf-8")
        elif not (path.exists() and path.read_text(encoding="utf-8") == text):
            problems += differences(path, text)
            continue
        action = "matches" if args.check else "wrote"
        print(f"{vocabulary.name}: {action} {path.relative_to(HERE.parents[1])} ({len(cases)} cases, "
              f"{sum(map(len, ids))} ids; {vocabulary.second_opinion.split(' ')[0]} agrees)")
    if problems:
        print("\n".join(problems))
        sys.exit(f"make_vectors: {len(problems)} difference(s) from the committed vectors: rerun without --check "
                 "if the change is intended")


if __name__ == "__main__":
    main()
