"""Generate small .npy / .npz files written by numpy itself, for Shrink's NumPy reader tests.

Run from the repository root:

    python Tests/Fixtures/npy/make_npy_fixtures.py

Writes into Tests/Fixtures/npy/ the .npy/.npz files listed in manifest.json, plus
manifest.json itself. For every array the manifest gives: numpy dtype string (`dtype`,
e.g. "<f4"), `shape`, `fortran_order`, `expect` ("load" or "reject"), and `values`: the
array flattened in C (row-major) order as a JSON list (floats are exact: float32 values
are written as the double they widen to; bools as true/false; ints as ints). Rejected
files (Fortran order, object dtype) carry no values. For .npz files the manifest lists
`members`, each with the same fields under its key name (without the .npy suffix), and
`compression` ("stored" for np.savez, "deflate" for np.savez_compressed).
"""

import json
import os

import numpy as np

OUT = os.path.dirname(os.path.abspath(__file__))


def describe(arr, expect="load"):
    d = {
        "dtype": arr.dtype.str,
        "shape": list(arr.shape),
        "fortran_order": bool(arr.flags.f_contiguous and not arr.flags.c_contiguous),
        "expect": expect,
    }
    if expect == "load":
        d["values"] = np.ascontiguousarray(arr).ravel(order="C").tolist()
    return d


def main():
    rng = np.random.default_rng(0)
    manifest = {}

    arrays = {
        "f32_3x4.npy": rng.standard_normal((3, 4)).astype(np.float32),
        "f32_2x3x4.npy": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "f32_scalar.npy": np.array(3.25, dtype=np.float32),
        "f32_empty_0x5.npy": np.zeros((0, 5), dtype=np.float32),
        "f64_3x4.npy": rng.standard_normal((3, 4)),
        "f64_scalar.npy": np.array(-1.0 / 3.0),
        "i64_2x3x4.npy": rng.integers(-(2**40), 2**40, size=(2, 3, 4), dtype=np.int64),
        "i64_scalar.npy": np.array(-7, dtype=np.int64),
        "i32_3x4.npy": rng.integers(-(2**31), 2**31 - 1, size=(3, 4), dtype=np.int32),
        "u8_3x4.npy": rng.integers(0, 256, size=(3, 4), dtype=np.uint8),
        "u8_empty_0x5.npy": np.zeros((0, 5), dtype=np.uint8),
        "bool_3x4.npy": rng.random((3, 4)) > 0.5,
        "f32_1d_7.npy": np.arange(7, dtype=np.float32) * 0.5 - 1.0,
        # big-endian float32: Swift should either byte-swap on load or reject cleanly.
        "f32_bigendian_3x4.npy": rng.standard_normal((3, 4)).astype(">f4"),
    }
    for name, arr in arrays.items():
        np.save(os.path.join(OUT, name), arr)
        manifest[name] = describe(arr)
    manifest["f32_bigendian_3x4.npy"]["expect"] = "load_or_reject"

    # Fortran-ordered array: header has 'fortran_order': True -> must be rejected.
    fort = np.asfortranarray(rng.standard_normal((3, 4)).astype(np.float32))
    np.save(os.path.join(OUT, "fortran_f32.npy"), fort)
    manifest["fortran_f32.npy"] = describe(fort, expect="reject")
    manifest["fortran_f32.npy"]["fortran_order"] = True

    # Object array (pickled payload) -> must be rejected.
    obj = np.array([1, "two", None], dtype=object)
    np.save(os.path.join(OUT, "object.npy"), obj, allow_pickle=True)
    manifest["object.npy"] = describe(obj, expect="reject")

    # Format version 2.0 header (4-byte header length) -- same data as f32_3x4.
    v2 = arrays["f32_3x4.npy"]
    with open(os.path.join(OUT, "f32_3x4_v2.npy"), "wb") as fh:
        np.lib.format.write_array(fh, v2, version=(2, 0))
    manifest["f32_3x4_v2.npy"] = describe(v2)
    manifest["f32_3x4_v2.npy"]["format_version"] = "2.0"

    # .npz archives
    members = {
        "x": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "y": np.arange(5, dtype=np.int64) * 3 - 4,
        "z": np.array([0, 1, 127, 128, 255], dtype=np.uint8),
    }
    np.savez(os.path.join(OUT, "stored.npz"), **members)
    np.savez_compressed(os.path.join(OUT, "deflated.npz"), **members)
    for name, comp in (("stored.npz", "stored"), ("deflated.npz", "deflate")):
        manifest[name] = {
            "compression": comp,
            "members": {k: describe(v) for k, v in members.items()},
        }

    # One line per file keeps the manifest compact and diff-friendly.
    lines = [
        "  %s: %s" % (json.dumps(k), json.dumps(manifest[k], sort_keys=True))
        for k in sorted(manifest)
    ]
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        fh.write("{\n" + ",\n".join(lines) + "\n}\n")


if __name__ == "__main__":
    main()
