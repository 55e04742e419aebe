"""IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

Layout: two zero bytes, a type code, the number of dimensions n; then n big-endian uint32
sizes; then the values, big-endian, row-major. Files may be gzip-compressed (as distributed).
"""
import gzip
import os

import numpy as np

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path) -> np.ndarray:
    """Read one IDX file (plain or .gz, detected from its first bytes) into an array of its
    shape; the values keep their type (uint8 images and labels stay uint8) in native byte
    order. A file that is not IDX, or is cut short, raises ValueError naming it."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ValueError(f"load_idx: {path!r} is a damaged gzip file: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise ValueError(f"load_idx: {path!r} is not an IDX file (its magic number is {data[:4].hex() or 'missing'}; "
                         f"expected 00 00 <type 08/09/0b/0c/0d/0e> <ndim>)")
    dtype = np.dtype(_TYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"load_idx: {path!r} is truncated: its header needs {header} bytes, the file has {len(data)}")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    count = int(np.prod(shape, dtype=np.int64))
    needed = header + count * dtype.itemsize
    if len(data) < needed:
        raise ValueError(f"load_idx: {path!r} is truncated: shape {shape} of {dtype.name} needs {needed} bytes, "
                         f"the file has {len(data)}")
    values = np.frombuffer(data, dtype, count=count, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def _first_existing(directory, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"no {stem}[.gz] in {directory!r}")


def load_mnist(directory):
    """``(x_train, y_train), (x_test, y_test)`` from the four standard MNIST files
    (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
    t10k-labels-idx1-ubyte, each optionally .gz) in ``directory`` — like
    ``keras.datasets.mnist.load_data()`` but from files you already have: uint8 images
    (n, 28, 28), uint8 labels."""
    def pair(prefix):
        return (load_idx(_first_existing(directory, f"{prefix}-images-idx3-ubyte")),
                load_idx(_first_existing(directory, f"{prefix}-labels-idx1-ubyte")))
    return pair("train"), pair("t10k")


def load_fashion_mnist(directory):
    """Fashion-MNIST uses MNIST's file names and format: see ``load_mnist``."""
    return load_mnist(directory)
