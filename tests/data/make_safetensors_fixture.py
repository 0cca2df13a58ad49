# Writes small safetensors files plus expected.json with the stdlib and numpy only, independently of Diverge's code.
"""Two files in the public safetensors layout:

  8 bytes   N, little-endian u64: the header length
  N bytes   JSON: {"__metadata__": {str: str}, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}, ...}
  rest      the tensors' little-endian bytes, offsets counted from the byte after the header

reference_layout.safetensors follows the reference writer (huggingface/safetensors, tensor.rs prepare()):
tensors sorted by dtype, largest alignment first, then by name; compact JSON with "__metadata__" first and each
entry's keys in the order dtype, shape, data_offsets; the header padded with spaces to a multiple of 8.

scrambled.safetensors is what another writer may produce and readers must still accept: indented JSON, header
entries in an order unrelated to the data order, no metadata, no padding (so its data is not aligned).

expected.json gives, per file, every tensor's dtype, shape, data_offsets, values (BF16 and F16 as their raw
uint16 bits) and its bytes in hex. Run: python3 tests/data/make_safetensors_fixture.py [output dir]
"""
import json
import struct
import sys
from pathlib import Path

import numpy

# The reference's Dtype enum order (increasing alignment); its writer sorts by it, descending.
DTYPE_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
               "F64", "I64", "U64"]


def bf16_bits(values):
    """bfloat16 bit patterns of float32 values that bfloat16 holds exactly: the top half of the float32 bits."""
    bits = numpy.array(values, dtype="<f4").view("<u4")
    assert numpy.all(bits & 0xFFFF == 0), "choose values exact in bfloat16"
    return (bits >> 16).astype("<u2")


def tensors():
    """name -> (dtype name, shape, little-endian numpy array of the values)."""
    return {
        "model.embed_tokens.weight": ("F32", [2, 3], numpy.array([0.5, -1.25, 3.0, 1e-3, -2.5e6, 7.0], "<f4")),
        "model.layers.0.mlp.experts.3.down_proj.weight": ("BF16", [3, 2], bf16_bits([1.0, -2.0, 0.15625, 3584.0,
                                                                                    -0.0078125, 96.0])),
        "model.layers.0.mlp.gate.weight": ("F16", [2], numpy.array([0.333251953125, -65504.0], "<f2")),
        "positions": ("I32", [4], numpy.array([0, -1, 2147483647, -2147483648], "<i4")),
        "counts": ("I64", [2], numpy.array([9007199254740993, -5], "<i8")),
        "scale": ("F64", [], numpy.array(2.718281828459045, "<f8")),
        "bias.empty": ("F32", [0, 5], numpy.zeros((0, 5), "<f4")),
        "mask": ("BOOL", [3], numpy.array([1, 0, 1], "u1")),
        "bytes": ("U8", [5], numpy.array([0, 1, 127, 128, 255], "u1")),
        "step": ("I32", [], numpy.array(12345, "<i4")),
    }


def values_of(dtype, array):
    """JSON values: numbers as Python gives them; F16 and BF16 as raw bits so no float rounding is involved."""
    if dtype == "F16":
        return array.view("<u2").reshape(-1).tolist()
    return array.reshape(-1).tolist()


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def reference_layout(all_tensors):
    order = sorted(all_tensors, key=lambda name: (-DTYPE_ORDER.index(all_tensors[name][0]), name))
    header, data, offset = {"__metadata__": {"format": "pt", "source": "fixture"}}, b"", 0
    for name in order:
        dtype, shape, array = all_tensors[name]
        raw = array.tobytes()
        header[name] = entry(dtype, shape, offset, offset + len(raw))
        data, offset = data + raw, offset + len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return text, data, header


def scrambled_layout(all_tensors):
    data_order = sorted(all_tensors, key=lambda name: name[::-1])
    header_order = sorted(all_tensors, key=len)
    spans, data, offset = {}, b"", 0
    for name in data_order:
        raw = all_tensors[name][2].tobytes()
        spans[name] = (offset, offset + len(raw))
        data, offset = data + raw, offset + len(raw)
    header = {name: entry(all_tensors[name][0], all_tensors[name][1], *spans[name]) for name in header_order}
    text = json.dumps(header, indent=2).encode()
    if len(text) % 8 == 0:
        text += b"\n"  # keep the data unaligned on purpose
    return text, data, header


def expectations(all_tensors, header):
    out = {}
    for name, (dtype, shape, array) in all_tensors.items():
        out[name] = {"dtype": dtype, "shape": shape, "data_offsets": header[name]["data_offsets"],
                     "values": values_of(dtype, array), "hex": array.tobytes().hex()}
    return out


def main():
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "safetensors"
    out_dir.mkdir(parents=True, exist_ok=True)
    all_tensors = tensors()
    expected = {}
    for file_name, layout in [("reference_layout.safetensors", reference_layout),
                              ("scrambled.safetensors", scrambled_layout)]:
        text, data, header = layout(all_tensors)
        (out_dir / file_name).write_bytes(struct.pack("<Q", len(text)) + text + data)
        expected[file_name] = {"header_bytes": len(text), "metadata": header.get("__metadata__", {}),
                               "tensors": expectations(all_tensors, header)}
    (out_dir / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
