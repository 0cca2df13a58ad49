# PyTorch reference of the Expert Divergence Loss (model/EDL.md): writes edl_cases.json, inputs in `diverge edl`'s
# format with the loss, JSD matrices, divergences and autograd gradient that PyTorch computes in float64.
"""Regenerate with: /usr/bin/python3 tests/reference/edl_reference.py (PyTorch >= 1.13; deterministic).

Independent of the C++ code: the loss is written straight from its definition and differentiated by autograd."""
import json
import math
import pathlib

import torch

CLAMP = 1e-12
OUT = pathlib.Path(__file__).with_name("edl_cases.json")


def clamped_log(x):
    return torch.log(torch.clamp(x, min=CLAMP))


def kl(p, q):
    return (p * (clamped_log(p) - clamped_log(q))).sum()


def jsd(p, q):
    m = 0.5 * (p + q)
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def sequence_means(logits, mask):
    """logits (S, T, E), mask (S, T) -> q (S, E): mean softmax over each sequence's target-bearing tokens."""
    probs = torch.softmax(logits, dim=-1)
    return (probs * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)


def layer_terms(logits, mask, domain_ids, labels, eps):
    q = sequence_means(logits, mask)
    present = [j for j in range(labels) if (domain_ids == j).any()]
    means = {j: q[domain_ids == j].mean(dim=0) for j in present}
    matrix = torch.zeros(labels, labels, dtype=torch.float64)
    terms = []
    for a, j in enumerate(present):
        for k in present[a + 1:]:
            value = jsd(means[j], means[k])
            matrix[j, k] = matrix[k, j] = value.detach()
            terms.append(-torch.log(value + eps))
    loss = torch.stack(terms).mean() if terms else logits.sum() * 0.0
    # The divergence decomposition from its definitions (EDL.md "Routing metrics").
    qbar = q.mean(dim=0)
    weights = {j: (domain_ids == j).double().mean() for j in present}
    d_total = torch.stack([kl(qs, qbar) for qs in q]).mean()
    d_inter = sum(weights[j] * kl(means[j], qbar) for j in present)
    d_intra = sum(weights[j] * torch.stack([kl(qs, means[j]) for qs in q[domain_ids == j]]).mean() for j in present)
    return loss, matrix, [float(d_total), float(d_inter), float(d_intra)]


def evaluate(case):
    logits = torch.tensor(case["input"]["logits"], dtype=torch.float64)
    one_layer = logits.dim() == 3
    if one_layer:
        logits = logits[None]
    logits.requires_grad_(True)
    S, T = logits.shape[1], logits.shape[2]
    mask = torch.tensor(case["input"].get("mask", [[1] * T] * S), dtype=torch.float64)
    domains = case["input"]["domains"]
    labels = sorted(set(domains))
    domain_ids = torch.tensor([labels.index(d) for d in domains])
    eps = case["input"].get("eps", 1e-6)
    chosen = case["input"].get("layers", list(range(logits.shape[0])))
    layers, losses = [], []
    for layer in chosen:
        loss, matrix, divergences = layer_terms(logits[layer], mask, domain_ids, len(labels), eps)
        losses.append(loss)
        layers.append({"layer": layer, "loss": float(loss), "jsd": matrix.tolist(), "d_total": divergences[0],
                       "d_inter": divergences[1], "d_intra": divergences[2]})
    total = torch.stack(losses).mean()
    total.backward()
    grad = logits.grad[0] if one_layer else logits.grad
    return {"loss": float(total), "domains": labels, "layers": layers, "grad_logits": grad.tolist()}


def random_case(name, generator, layers, S, T, E, domains, scale, mask_zero=0.0, eps=None, chosen=None):
    shape = (S, T, E) if layers is None else (layers, S, T, E)
    logits = (torch.randn(shape, generator=generator, dtype=torch.float64) * scale).tolist()
    case = {"name": name, "input": {"logits": logits, "domains": domains}}
    if mask_zero > 0.0:
        mask = (torch.rand((S, T), generator=generator, dtype=torch.float64) >= mask_zero).long()
        mask[:, 0] = 1  # every sequence keeps a target-bearing token
        case["input"]["mask"] = mask.tolist()
    if eps is not None:
        case["input"]["eps"] = eps
    if chosen is not None:
        case["input"]["layers"] = chosen
    return case


def main():
    generator = torch.Generator().manual_seed(20260301)
    cases = [
        random_case("one layer, two string domains", generator, None, 4, 3, 4, ["math", "code", "code", "math"], 1.0),
        random_case("two layers, three integer domains, one with a single sequence, mask", generator, 2, 5, 4, 6,
                    [7, 3, 7, 11, 3], 1.5, mask_zero=0.3, eps=1e-4),
        random_case("three layers, layers 0 and 2 chosen, four domains, peaked router", generator, 3, 6, 3, 8,
                    ["en", "zh", "math", "code", "zh", "en"], 4.0, mask_zero=0.2, chosen=[0, 2]),
        random_case("one domain only", generator, None, 3, 2, 4, ["prose", "prose", "prose"], 1.0),
        random_case("near-identical routing: JSD close to eps", generator, 2, 4, 5, 4, [0, 1, 0, 1], 0.01),
    ]
    for case in cases:
        case["expected"] = evaluate(case)
        print(f'{case["name"]}: loss {case["expected"]["loss"]:.12g}')
    meta = {"torch": torch.__version__, "dtype": "float64", "clamp": CLAMP,
            "generator": "edl_reference.py, torch.Generator seed 20260301"}
    OUT.write_text(json.dumps({"meta": meta, "cases": cases}) + "\n")
    print(f"wrote {OUT.name} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
