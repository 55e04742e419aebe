"""gc.datasets: the shipped digits, the logic gates and the IDX reader."""
import gzip
import os
import subprocess
import sys

import numpy as np
import pytest

import graphc as gc


def test_load_digits_is_the_uci_8x8_digits():
    x, y = gc.datasets.load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0 and x.max() == 16 and (x == np.round(x)).all()
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert y[:10].tolist() == list(range(10))
    assert x[0].reshape(8, 8)[1].tolist() == [0, 0, 13, 15, 10, 15, 5, 0]   # the first "0"


def test_load_digits_works_offline_without_scikit_learn():
    code = ("import sys, graphc as gc; x, y = gc.datasets.load_digits(); "
            "assert 'sklearn' not in sys.modules; print(x.shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(1797, 64)"


def test_data_file_ships_with_its_license():
    folder = os.path.join(os.path.dirname(gc.datasets.__file__), "data")
    readme = open(os.path.join(folder, "README.md"), encoding="utf-8").read()
    assert "digits.csv.gz" in readme and "BSD" in readme and "UCI" in readme


def test_logic_gates():
    x, y = gc.datasets.and_gate()
    assert x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y.tolist() == [0, 0, 0, 1]
    x, y = gc.datasets.xor()
    assert x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y.tolist() == [0, 1, 1, 0]
    assert gc.datasets.or_gate()[1].tolist() == [0, 1, 1, 1]


def write_idx(path, array, type_code, compress=False):
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    data = header + big_endian.tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)
    return path


@pytest.mark.parametrize("dtype, code", [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B),
                                         (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)])
@pytest.mark.parametrize("compress", [False, True])
def test_load_idx_types_plain_and_gzip(tmp_path, dtype, code, compress):
    values = (np.arange(2 * 3 * 4) * 3 - 7).reshape(2, 3, 4)
    if dtype == np.uint8:
        values = np.abs(values)
    array = values.astype(dtype)
    path = write_idx(tmp_path / "a.idx", array, code, compress)
    loaded = gc.datasets.load_idx(path)
    assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)


def test_load_idx_errors_name_the_file(tmp_path):
    good = write_idx(tmp_path / "good.idx", np.zeros((5, 4), np.uint8), 0x08)
    truncated = tmp_path / "truncated.idx"
    truncated.write_bytes(open(good, "rb").read()[:-3])
    with pytest.raises(ValueError, match="truncated.idx.*truncated"):
        gc.datasets.load_idx(truncated)
    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="foreign.bin.*not an IDX file"):
        gc.datasets.load_idx(foreign)
    short_header = tmp_path / "short.idx"
    short_header.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(ValueError, match="short.idx.*header"):
        gc.datasets.load_idx(short_header)


def test_load_mnist_reads_the_four_standard_files(tmp_path):
    rng = np.random.default_rng(0)
    images = {"train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
              "t10k": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)}
    labels = {"train": rng.integers(0, 10, 6, dtype=np.uint8), "t10k": rng.integers(0, 10, 3, dtype=np.uint8)}
    for prefix in ("train", "t10k"):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images[prefix], 0x08, compress=True)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", labels[prefix], 0x08)
    (x_train, y_train), (x_test, y_test) = gc.datasets.load_mnist(tmp_path)
    np.testing.assert_array_equal(x_train, images["train"])
    np.testing.assert_array_equal(y_test, labels["t10k"])
    assert x_test.shape == (3, 28, 28) and y_train.shape == (6,)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        gc.datasets.load_fashion_mnist(tmp_path / "nowhere")
