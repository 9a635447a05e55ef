"""Writes the malformed NumPy fixtures of this folder (deterministic; numpy + the standard library).

Run from the repository root:  python3 Tests/Fixtures/npy/bad/make_bad_fixtures.py
Each file is described in README.md next to this script.
"""
import io
import os
import struct
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EPOCH = (1980, 1, 1, 0, 0, 0)


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def npy_header(descr, shape):
    """A version 1.0 .npy header (magic, length, dict padded to 64 bytes) for any shape text."""
    text = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    text += " " * ((64 - (10 + len(text) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def write_zip(name, members, method=zipfile.ZIP_STORED):
    """members: [(member name, bytes)] in order, fixed timestamps."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for member, data in members:
            info = zipfile.ZipInfo(member, date_time=EPOCH)
            info.compress_type = method
            z.writestr(info, data)
    return bytearray(buf.getvalue())


def central_entries(data):
    """Offsets of the central directory entries (signature PK\\1\\2)."""
    out, at = [], 0
    while True:
        at = data.find(b"PK\x01\x02", at)
        if at < 0:
            return out
        out.append(at)
        at += 4


def save(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(bytes(data))


def savez(name, **arrays):
    """np.savez with fixed timestamps, so the bytes do not change between runs."""
    save(name, write_zip(name, [(k + ".npy", npy_bytes(v)) for k, v in arrays.items()]))


def lenet_like(n=8, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, n).astype(np.int64)
    return x, y


def main():
    x, y = lenet_like()
    small = np.arange(12, dtype=np.float32).reshape(3, 4)

    # 1. A stored member whose bytes were damaged after writing: the CRC-32 no longer matches.
    z = write_zip("crc_stored.npz", [("x.npy", npy_bytes(x)), ("y.npy", npy_bytes(y))])
    z[30 + len("x.npy") + 200] ^= 0xFF
    save("crc_stored.npz", z)

    # 2. A deflated member whose recorded CRC-32 (local header and directory) is wrong.
    z = write_zip("crc_deflated.npz", [("x.npy", npy_bytes(small))], zipfile.ZIP_DEFLATED)
    z[14] ^= 0x01
    for at in central_entries(z):
        z[at + 16] ^= 0x01
    save("crc_deflated.npz", z)

    # 3. A deflate bomb: the header declares 10 floats, the member inflates to 32 MiB (the zip
    #    directory says so honestly). Refused before inflating past the header.
    bomb = npy_bytes(np.zeros(10, np.float32)) + bytes(32 << 20)
    save("bomb_header.npz", write_zip("bomb_header.npz", [("x.npy", bomb)], zipfile.ZIP_DEFLATED))

    # 4. The same bomb with the directory's uncompressed size patched to what the header declares
    #    (168 bytes): the stream must be cut off at 168 bytes, not inflated to the end.
    z = write_zip("bomb_directory.npz", [("x.npy", bomb)], zipfile.ZIP_DEFLATED)
    declared = len(npy_bytes(np.zeros(10, np.float32)))
    z[22:26] = struct.pack("<I", declared)
    for at in central_entries(z):
        z[at + 24:at + 28] = struct.pack("<I", declared)
    save("bomb_directory.npz", z)

    # 5. A deflated member whose compressed data was cut short (directory sizes patched to match),
    #    so the stream ends before its last block.
    payload = npy_bytes(np.arange(4096, dtype=np.float32))
    z = write_zip("truncated_deflate.npz", [("x.npy", payload)], zipfile.ZIP_DEFLATED)
    (csize,) = struct.unpack("<I", bytes(z[18:22]))
    cut = csize // 2
    start = 30 + len("x.npy")
    z = z[:start + cut] + z[start + csize:]
    z[18:22] = struct.pack("<I", cut)
    for at in central_entries(z):
        z[at + 20:at + 24] = struct.pack("<I", cut)
    # The end record's directory offset moved by csize - cut.
    eocd = z.rfind(b"PK\x05\x06")
    (cd_offset,) = struct.unpack("<I", bytes(z[eocd + 16:eocd + 20]))
    z[eocd + 16:eocd + 20] = struct.pack("<I", cd_offset - (csize - cut))
    save("truncated_deflate.npz", z)

    # 6. Shapes whose element count overflows a 64-bit integer.
    save("overflow_shape.npy", npy_header("<f4", "(4611686018427387904, 4)") + bytes(64))
    save("overflow_shape_3d.npy", npy_header("<f8", "(4294967296, 4294967296, 2)") + bytes(64))
    over = npy_header("<f4", "(4611686018427387904, 4)") + bytes(64)
    save("overflow_shape.npz", write_zip("overflow_shape.npz", [("x.npy", over), ("y.npy", npy_bytes(y))]))

    # 7. LeNet-shaped data sets (8 samples) with one bad value each.
    nan = x.copy()
    nan[3, 0, 14, 7] = np.nan
    savez("nan_pixel.npz", x=nan, y=y)
    inf = x.copy()
    inf[5, 0, 2, 9] = -np.inf
    savez("inf_pixel.npz", x=inf, y=y)
    wide = x.astype(np.float64)
    wide[1, 0, 0, 3] = 1e300  # finite in float64, +inf once converted to float32
    savez("float64_overflow.npz", x=wide, y=y)
    high = y.copy()
    high[5] = 12
    savez("label_12.npz", x=x, y=high)
    low = y.copy()
    low[2] = -1
    savez("label_negative.npz", x=x, y=low)
    save("nan_pixel_x.npy", npy_bytes(nan))
    save("lenet_x.npy", npy_bytes(x))
    save("label_12_y.npy", npy_bytes(high))
    mse_ref = np.zeros((8, 10), np.float32)
    mse_ref[6, 4] = np.nan
    savez("nan_reference.npz", x=x, y=mse_ref)
    savez("lenet_ok.npz", x=x, y=y)


if __name__ == "__main__":
    main()
