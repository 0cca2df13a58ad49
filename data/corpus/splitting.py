# Train/val assignment: per fine domain, whole split groups in hash order until the domain's val quota is met.
from collections import Counter, defaultdict
import hashlib


def key_fraction(key):
    """A uniform number in [0, 1) fixed by the key alone."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8, person=b"diverge-split").digest()
    return int.from_bytes(digest, "big") / 2**64


def val_quota(num_docs, val_fraction, min_val_docs):
    """val_fraction of the documents, but at least min_val_docs while that leaves four fifths for training."""
    return max(round(val_fraction * num_docs), min(min_val_docs, num_docs // 5))


def domain_val_keys(domain_docs, val_fraction, min_val_docs):
    """Split keys for one domain's val set: groups in hash order that fit in the quota (a multi-part group that
    would overshoot it is passed over), or the first smallest group when none fits."""
    sizes = Counter(doc.split_key for doc in domain_docs)
    quota = val_quota(len(domain_docs), val_fraction, min_val_docs)
    ordered = sorted(sizes, key=lambda k: (key_fraction(k), k))
    chosen, count = set(), 0
    for key in ordered:
        if count >= quota:
            break
        if count + sizes[key] <= quota:
            chosen.add(key)
            count += sizes[key]
    if quota and not chosen:
        chosen.add(min(ordered, key=lambda k: sizes[k]))
    return chosen


def assign_splits(documents, val_fraction, min_val_docs):
    """Sets doc.split to "val" or "train". A key in val in one domain is in val in all of them, so a translation
    of a val document never trains in another language's domain."""
    by_domain = defaultdict(list)
    for doc in documents:
        by_domain[doc.fine].append(doc)
    val_keys = set()
    for fine in sorted(by_domain):
        val_keys |= domain_val_keys(by_domain[fine], val_fraction, min_val_docs)
    for doc in documents:
        doc.split = "val" if doc.split_key in val_keys else "train"
