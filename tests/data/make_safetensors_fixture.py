# Writes small safetensors files plus expected.json: one by the safetensors library itself, one by hand.
"""Two files in the public safetensors layout:

  8 bytes   N, little-endian u64: the header length
  N bytes   JSON: {"__metadata__": {str: str}, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}, ...}
  rest      the tensors' little-endian bytes, offsets counted from the byte after the header

reference_layout.safetensors is written by the safetensors library (its serialize, which safetensors.numpy.save
calls; called directly because numpy has no bfloat16). It lays tensors out sorted by dtype, largest alignment
first, then by name, with compact JSON, "__metadata__" first, padded with spaces to a multiple of 8. Its metadata
has one key: the library keeps metadata in a hash map, so several keys come out in an order that changes from run
to run.

scrambled.safetensors is what another writer may produce and readers must still accept: indented JSON, header
entries in an order unrelated to the data order, no metadata, no padding (so its data is not aligned).

expected.json gives, per file, every tensor's dtype, shape, data_offsets, values (BF16 and F16 as their raw
uint16 bits) and its bytes in hex. tests/test_safetensors.cpp reads both files with Diverge's reader and writes the
first with Diverge's writer against it.

Run in the reference venv (launch/reference-venv.sh):
  tests/reference/venv-python.sh tests/data/make_safetensors_fixture.py [output dir]
  tests/reference/venv-python.sh tests/data/make_safetensors_fixture.py --check
--check writes nothing: it exits 1 unless the library writes the committed files byte for byte today and reads
both committed files as expected.json describes them.
"""
import json
import struct
import sys
import tempfile
from pathlib import Path

import numpy
from safetensors import TensorSpec, deserialize, serialize

HERE = Path(__file__).resolve().parent
FILES = ["reference_layout.safetensors", "scrambled.safetensors", "expected.json"]

# safetensors' header dtype names -> the library's names for them.
LIBRARY_DTYPES = {"BOOL": "bool", "U8": "uint8", "F16": "float16", "BF16": "bfloat16", "I32": "int32",
                  "F32": "float32", "F64": "float64", "I64": "int64"}


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
    specs = {name: TensorSpec(dtype=LIBRARY_DTYPES[dtype], shape=shape, data_ptr=array.ctypes.data,
                              data_len=array.nbytes)
             for name, (dtype, shape, array) in all_tensors.items()}
    raw = bytes(serialize(specs, metadata={"format": "pt"}))
    (length,) = struct.unpack_from("<Q", raw)
    text = raw[8:8 + length]
    return text, raw[8 + length:], json.loads(text)


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


def write_fixture(out_dir):
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


def library_reading_problems(fixture_dir):
    """Where the library's reading of the committed files differs from expected.json."""
    expected = json.loads((fixture_dir / "expected.json").read_text())
    problems = []
    for file_name, want in expected.items():
        read = {name: (entry["dtype"], entry["shape"], bytes(entry["data"]).hex())
                for name, entry in deserialize((fixture_dir / file_name).read_bytes())}
        described = {name: (t["dtype"], t["shape"], t["hex"]) for name, t in want["tensors"].items()}
        problems += [f"{file_name}: {name}: the library reads {read.get(name)}, expected.json says "
                     f"{described.get(name)}" for name in sorted(set(read) | set(described))
                     if read.get(name) != described.get(name)]
    return problems


def check(fixture_dir):
    with tempfile.TemporaryDirectory(prefix="safetensors-fixture-") as scratch:
        write_fixture(Path(scratch))
        problems = [f"{name}: the library now writes other bytes than the committed file" for name in FILES
                    if (Path(scratch) / name).read_bytes() != (fixture_dir / name).read_bytes()]
    try:
        problems += library_reading_problems(fixture_dir)
    except Exception as error:  # the library refusing a committed file is a finding, not a crash
        problems.append(f"the safetensors library cannot read the committed files: {error}")
    return problems


def main():
    args = sys.argv[1:]
    if args != ["--check"]:
        write_fixture(Path(args[0]) if args else HERE / "safetensors")
        return
    problems = check(HERE / "safetensors")
    if problems:
        print("\n".join(problems))
        sys.exit(f"make_safetensors_fixture: {len(problems)} problem(s)")
    print("tests/data/safetensors: the safetensors library writes reference_layout.safetensors byte for byte and "
          "reads both files as expected.json describes them")


if __name__ == "__main__":
    main()
