from pathlib import Path

import numpy as np
import pytest

from jaxdl.data import tables

ROOT = Path(__file__).resolve().parent.parent


def test_pima_table_is_masss_split():
    train, test = tables.pima("train"), tables.pima("test")
    assert train.features.shape == (200, 7) and test.features.shape == (332, 7)
    assert train.feature_names == tables.PIMA_FEATURES
    assert (int(train.labels.sum()), int(test.labels.sum())) == (68, 109)  # MASS's counts
    # The first Pima.te row is the first row of the 768-row PIMA table (minus insulin).
    np.testing.assert_allclose(test.features[0], [6, 148, 72, 35, 33.6, 0.627, 50])
    assert test.labels[0] == 1
    assert tables.pima().features.shape == (532, 7)


def test_corrupt_or_bad_split():
    raw = tables._pima_bytes()
    with pytest.raises(ValueError, match="corrupt or was edited"):
        tables.pima(raw=raw.replace(b"148", b"149", 1))
    with pytest.raises(ValueError, match="corrupt"):
        tables.pima(raw=raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="split must be"):
        tables.pima("validation")


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty file"),
        ("a,b\n1,0\n", "no label column 'y'"),
        ("a,y\n", "no data rows"),
        ("a,b,y\n1,2\n", "line 2: 2 values but the header has 3"),
        ("a,y\n1,0\nx,1\n", "line 3: non-numeric"),
        ("a,y\nnan,0\n", "NaN"),
        ("a,y\n1,2\n", "label '2' is not 0 or 1"),
        ("y\n1\n", "no feature columns"),
    ],
)
def test_read_table_bad_input(text, match):
    with pytest.raises(ValueError, match=match):
        tables.read_table(text, label="y")


def test_read_csv(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,2,0\n3,4,1\n\n")
    table = tables.read_csv(path, label="y")
    np.testing.assert_array_equal(table.features, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(table.labels, [0, 1])
    with pytest.raises(ValueError, match="does not exist"):
        tables.read_csv(tmp_path / "missing.csv", label="y")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ValueError, match="CSV text"):
        tables.read_csv(tmp_path / "bin.csv", label="y")


def test_standardizer():
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    s = tables.fit_standardizer(x)
    np.testing.assert_allclose(s(x), [[-1, 0], [1, 0]])
    with pytest.raises(ValueError, match=r"shape \[N, 2\]"):
        s(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="non-empty"):
        tables.fit_standardizer(np.zeros((0, 2)))
