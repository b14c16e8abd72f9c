"""The download path end to end against a local server: mirrors, checksums, cache."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from jaxdl.data import DownloadError, MnistDataError, fetch, mnist, mnist_with_checks
from tests.data.idxfiles import small_mnist_files

FILE = "t10k-labels-idx1-ubyte.gz"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def files():
    return small_mnist_files()


@pytest.fixture
def checksums(files):
    return {name: sha256(body) for name, (_, body) in files.items()}


def load(split, server_mirrors, checksums, cache, **kwargs):
    return mnist_with_checks(
        split,
        "download",
        mirrors=server_mirrors,
        checksums=checksums,
        cache_dir=cache,
        full_size=False,
        timeout=5,
        **kwargs,
    )


def test_failing_mirrors_are_skipped_until_one_serves_the_file(
    server, files, checksums, tmp_path, closed_port_url
):
    server.files = {name: body for name, (_, body) in files.items()}
    mirrors = [closed_port_url, server.mirror("gone", "missing"), server.mirror("good")]
    data, checks = load("test", mirrors, checksums, tmp_path)
    np.testing.assert_array_equal(data.images, files["t10k-images-idx3-ubyte.gz"][0])
    np.testing.assert_array_equal(data.labels, files[FILE][0])
    assert [c.status for c in checks] == ["verified", "verified"]
    assert sorted(os.listdir(tmp_path / "mnist")) == sorted(
        ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    )
    assert (tmp_path / "mnist" / FILE).read_bytes() == files[FILE][1]
    assert server.requests == [
        "/gone/t10k-images-idx3-ubyte.gz",
        "/good/t10k-images-idx3-ubyte.gz",
        "/gone/t10k-labels-idx1-ubyte.gz",
        "/good/t10k-labels-idx1-ubyte.gz",
    ]


def test_second_call_uses_the_cache_without_the_network(server, files, checksums, tmp_path):
    server.files = {name: body for name, (_, body) in files.items()}
    first, _ = load("train", [server.mirror("good")], checksums, tmp_path)
    requests = len(server.requests)
    # No mirror at all: only the verified cache can answer.
    again, _ = load("train", [], checksums, tmp_path)
    assert len(server.requests) == requests == 2
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.labels, again.labels)


def test_checksum_mismatch_rejects_the_file_and_leaves_the_cache_untouched(server, files, tmp_path):
    cache = tmp_path / "mnist"
    cache.mkdir()
    stale = cache / FILE
    stale.write_bytes(b"an older file the user had")
    server.files = {FILE: files[FILE][1]}
    expected = sha256(b"something else")
    with pytest.raises(DownloadError) as info:
        fetch(FILE, mirrors=[server.mirror("bad")], checksum=expected, directory=cache)
    message = str(info.value)
    found = hashlib.sha256(files[FILE][1]).hexdigest()
    assert FILE in message and expected.split(":")[1] in message and found in message
    assert f"{server.base}/bad/{FILE}: checksum mismatch" in message
    assert "by hand" in message and "--source DIR" in message
    assert os.listdir(cache) == [FILE]  # no temporary file left behind
    assert stale.read_bytes() == b"an older file the user had"


def test_interrupted_download_leaves_no_partial_file(server, files, checksums, tmp_path):
    server.files = {FILE: files[FILE][1]}
    cache = tmp_path / "mnist"
    with pytest.raises(DownloadError, match=r"interrupted: received \d+ of \d+ bytes"):
        fetch(
            FILE,
            mirrors=[server.mirror("flaky", "truncate")],
            checksum=checksums[FILE],
            directory=cache,
        )
    assert os.listdir(cache) == []
    # A later call with a working mirror succeeds; nothing stale is picked up.
    path = fetch(
        FILE,
        mirrors=[server.mirror("flaky", "truncate"), server.mirror("good")],
        checksum=checksums[FILE],
        directory=cache,
    )
    assert path.read_bytes() == files[FILE][1] and os.listdir(cache) == [FILE]


def test_corrupt_cached_file_is_replaced(server, files, checksums, tmp_path):
    server.files = {FILE: files[FILE][1]}
    cache = tmp_path / "mnist"
    cache.mkdir()
    body = bytearray(files[FILE][1])
    body[12] ^= 0xFF  # one flipped byte
    (cache / FILE).write_bytes(bytes(body))
    path = fetch(FILE, mirrors=[server.mirror("good")], checksum=checksums[FILE], directory=cache)
    assert path.read_bytes() == files[FILE][1]
    assert server.requests == [f"/good/{FILE}"]


def test_md5_checksums_are_accepted(server, files, tmp_path):
    body = files[FILE][1]
    server.files = {FILE: body}
    md5 = "md5:" + hashlib.md5(body, usedforsecurity=False).hexdigest()
    path = fetch(FILE, mirrors=[server.mirror("good")], checksum=md5, directory=tmp_path)
    assert path.read_bytes() == body


def test_all_mirrors_failing_names_every_url(files, checksums, tmp_path, closed_port_url, server):
    mirrors = [closed_port_url, server.mirror("gone", "missing")]
    with pytest.raises(DownloadError) as info:
        load("test", mirrors, checksums, tmp_path)
    message = str(info.value)
    assert f"{closed_port_url}t10k-images-idx3-ubyte.gz: unreachable" in message
    assert f"{server.base}/gone/t10k-images-idx3-ubyte.gz: HTTP 404" in message
    assert "expected sha256" in message and str(tmp_path / "mnist") in message


def test_downloaded_files_are_validated_for_the_full_size(server, files, checksums, tmp_path):
    server.files = {name: body for name, (_, body) in files.items()}
    with pytest.raises(MnistDataError, match="expected 10000 images, found 10"):
        mnist(
            "test",
            "download",
            mirrors=[server.mirror("good")],
            checksums=checksums,
            cache_dir=tmp_path,
        )


def test_a_verified_download_that_is_not_idx_is_refused(server, tmp_path):
    body = b"<html>a captive portal</html>"
    names = ("t10k-images-idx3-ubyte.gz", FILE)
    server.files = dict.fromkeys(names, body)
    with pytest.raises(MnistDataError, match="t10k-images-idx3-ubyte.gz: expected gzip data"):
        mnist(
            "test",
            "download",
            mirrors=[server.mirror("good")],
            checksums=dict.fromkeys(names, sha256(body)),
            cache_dir=tmp_path,
        )


@pytest.mark.parametrize("checksum", ["sha1:abc", "440fcabf", "sha256:"])
def test_malformed_checksum_is_refused(checksum, tmp_path):
    with pytest.raises(MnistDataError, match="checksum must look like"):
        fetch(FILE, mirrors=[], checksum=checksum, directory=tmp_path)


def test_cache_dir_follows_jaxdl_data(monkeypatch, tmp_path):
    from jaxdl.data import default_cache_dir

    monkeypatch.setenv("JAXDL_DATA", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("JAXDL_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "jaxdl"
