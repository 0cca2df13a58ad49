# Writes and reads the safetensors format with the standard library and numpy (the safetensors package is not needed).
"""Layout: <u64 little-endian header length N> <N bytes of JSON header> <raw little-endian tensor data>.
The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end)} (offsets relative to the data
section) and "__metadata__" to a map of strings. The header is padded with spaces to a multiple of 8 bytes so that
the data section is 8-byte aligned, as the reference implementation does.
"""
import json
import struct

import numpy

DTYPES = {"F64": numpy.dtype("<f8"), "F32": numpy.dtype("<f4"), "I64": numpy.dtype("<i8"), "I32": numpy.dtype("<i4")}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


def write_safetensors(path, tensors, metadata):
    """tensors: name -> numpy array (written in this order); metadata: name -> str."""
    header = {"__metadata__": dict(metadata)}
    chunks = []
    offset = 0
    for name, array in tensors.items():
        array = numpy.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        if array.dtype not in DTYPE_NAMES:
            raise ValueError(f"{name}: dtype {array.dtype} has no safetensors name here")
        data = array.tobytes()
        header[name] = {"dtype": DTYPE_NAMES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(header_bytes)))
        out.write(header_bytes)
        for data in chunks:
            out.write(data)


def read_safetensors(path):
    """-> (name -> numpy array in file order, metadata dict); checks that offsets tile the data section exactly."""
    with open(path, "rb") as source:
        blob = source.read()
    (header_length,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + header_length].decode("utf-8"))
    data = blob[8 + header_length:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    expected_begin = 0
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        if begin != expected_begin or end - begin != dtype.itemsize * int(numpy.prod(entry["shape"])):
            raise ValueError(f"{path}: tensor {name}: data_offsets {entry['data_offsets']} do not tile the data")
        tensors[name] = numpy.frombuffer(data[begin:end], dtype=dtype).reshape(entry["shape"])
        expected_begin = end
    if expected_begin != len(data):
        raise ValueError(f"{path}: {len(data) - expected_begin} bytes after the last tensor")
    return tensors, metadata
