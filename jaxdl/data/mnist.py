"""MNIST from three sources, every byte checked: the embedded sample, a download, a directory.

* ``"sample"`` (default): 8000 train and 2000 test digits of real MNIST shipped inside the
  package (``mnist_sample.npz``, about 1.7 MB), so tests, the tour and anyone offline have data.
  Stratified and seeded: 800 train digits per class drawn from the 60000 MNIST training images
  and 200 test digits per class drawn from the 10000 MNIST test images, so the sample's test
  part is held out exactly as MNIST's is. ``scripts/make_mnist_sample.py`` regenerates it from
  the official files; the npz records the source files' SHA-256, the indices drawn and the seed.
* ``"download"``: the four official gzipped IDX files, fetched from a list of mirrors tried in
  order (:data:`MIRRORS`), each checked against its published SHA-256 (:data:`SHA256`), cached
  under ``$JAXDL_DATA/mnist`` (or ``$XDG_CACHE_HOME/jaxdl/mnist``, ``~/.cache/jaxdl/mnist``).
  A download is written to a temporary file in the cache directory and renamed into place only
  after its checksum matches, so an interrupted or corrupt download never poisons the cache.
* a directory path: the four IDX files, gzipped or not, named as published
  (``train-images-idx3-ubyte[.gz]``) or with a dot (``train-images.idx3-ubyte[.gz]``), holding
  any number of 28x28 images with labels 0-9: MNIST itself, a subset of it, or other data in
  its format (Fashion-MNIST, KMNIST). Their decompressed content is compared with the published
  SHA-256 of MNIST, and whether they are the official MNIST is reported
  (:func:`is_official_mnist`, ``jaxdl data mnist``), never refused.

Every file read is validated (:mod:`jaxdl.data.idx`): magic numbers, 28x28 images, labels in
0-9, equal non-zero counts, and for a download 60000 / 10000 items (``full_size=True`` asks
the same of a directory).

Data licence: MNIST is by Yann LeCun and Corinna Cortes (with Christopher J.C. Burges), from
NIST's Special Databases 1 and 3, and is made available under the Creative Commons
Attribution-Share Alike 3.0 licence (CC BY-SA 3.0). The embedded sample is a subset of it and is
shared under the same licence; see ``jaxdl/data/README.md``.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import importlib.resources
import io
import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from jaxdl.data.batches import Batch
from jaxdl.data.idx import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    MnistDataError,
    decompress,
    parse_idx,
    validate_pair,
)

Split = Literal["train", "test"]
SPLITS: tuple[Split, ...] = ("train", "test")
COUNTS: dict[str, int] = {"train": 60000, "test": 10000}

# Mirrors of the official files, tried in order (LeCun's own site now answers 403).
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# The IDX file of each (split, kind), without ``.gz``.
FILES: dict[tuple[str, str], str] = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}

# Published checksums of the gzipped files the mirrors serve ("algorithm:hex"; md5 is accepted
# too). The MD5s of the same files are f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d....
SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

# Published SHA-256 of the decompressed files (what a directory source is compared with).
SHA256_DECOMPRESSED: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

SAMPLE_FILE = "mnist_sample.npz"
LICENCE = "CC BY-SA 3.0"
HOW_TO_SUPPLY = (
    "to supply the files by hand, download the four gzipped IDX files of MNIST "
    "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
    "t10k-labels-idx1-ubyte.gz) from any mirror into one directory and pass it as the source "
    "(jaxdl data mnist --source DIR), or put them, checked, in {cache}"
)


class FileCheck(NamedTuple):
    """What was read and how far it can be trusted."""

    file: str  # the file's name ("train-images-idx3-ubyte.gz", "mnist_sample.npz:train_images")
    location: str  # path or URL it was read from
    sha256: str  # SHA-256 of the bytes checked
    status: str  # "verified" | "differs from published MNIST" | "no published checksum"


class DownloadError(MnistDataError):
    """Every mirror failed for a file; the message lists each URL and why."""


def default_cache_dir() -> Path:
    """``$JAXDL_DATA``, else ``$XDG_CACHE_HOME/jaxdl``, else ``~/.cache/jaxdl``."""
    if os.environ.get("JAXDL_DATA"):
        return Path(os.environ["JAXDL_DATA"]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "jaxdl"


def mnist(
    split: Split,
    source: str | os.PathLike = "sample",
    *,
    mirrors: Sequence[str] = MIRRORS,
    checksums: Mapping[str, str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    full_size: bool | None = None,
    timeout: float = 60.0,
) -> Batch:
    """Load one split of MNIST, validated.

    Args:
      split: ``"train"`` or ``"test"``.
      source: ``"sample"`` (the embedded real subset), ``"download"`` (mirrors, checksums,
        cache) or a directory holding the four IDX files, gzipped or not.
      mirrors: base URLs tried in order for ``"download"``.
      checksums: ``{"train-images-idx3-ubyte.gz": "sha256:<hex>" | "md5:<hex>", ...}`` for
        ``"download"``; defaults to the published :data:`SHA256`.
      cache_dir: where downloads are kept (the files go in ``cache_dir/mnist``); defaults to
        :func:`default_cache_dir`.
      full_size: require 60000 train / 10000 test items; ``None`` (default) requires them from
        ``"download"`` only, so that a directory may hold any number of images.
      timeout: seconds to wait on a mirror before trying the next.

    Returns:
      ``Batch(images uint8 [N, 28, 28], labels uint8 [N])``: read-only host arrays, 0 = background,
      255 = ink.

    Raises:
      MnistDataError: (a ``ValueError``) bad split or source, or a missing, corrupt, truncated
        or invalid file; :class:`DownloadError` when every mirror failed for a file.
    """
    data, _ = mnist_with_checks(
        split,
        source,
        mirrors=mirrors,
        checksums=checksums,
        cache_dir=cache_dir,
        full_size=full_size,
        timeout=timeout,
    )
    return data


def mnist_with_checks(
    split: Split,
    source: str | os.PathLike = "sample",
    *,
    mirrors: Sequence[str] = MIRRORS,
    checksums: Mapping[str, str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    full_size: bool | None = None,
    timeout: float = 60.0,
) -> tuple[Batch, tuple[FileCheck, ...]]:
    """Like :func:`mnist`, also returning a :class:`FileCheck` per file read."""
    if split not in SPLITS:
        raise MnistDataError(f"split must be 'train' or 'test', got {split!r}")
    if isinstance(source, str) and source == "sample":
        return _from_sample(split)
    official_count = COUNTS[split]
    if isinstance(source, str) and source == "download":
        count = official_count if full_size in (None, True) else None
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        return _from_download(
            split,
            mirrors=mirrors,
            checksums=SHA256 if checksums is None else checksums,
            directory=cache / "mnist",
            count=count,
            timeout=timeout,
        )
    directory = Path(source).expanduser()
    if not directory.is_dir():
        raise MnistDataError(
            f"source must be 'sample', 'download' or a directory of MNIST IDX files; "
            f"{str(source)!r} is not a directory"
        )
    return _from_directory(split, directory, count=official_count if full_size else None)


def is_official_mnist(checks: Sequence[FileCheck]) -> bool:
    """Whether every file checked is byte for byte the published MNIST (by SHA-256).

    The embedded sample counts as official: each of its arrays matches the SHA-256 recorded
    when it was drawn from the official files.
    """
    return bool(checks) and all(c.status == "verified" for c in checks)


# --- embedded sample -----------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _sample_arrays() -> dict[str, np.ndarray]:
    resource = importlib.resources.files("jaxdl.data").joinpath(SAMPLE_FILE)
    try:
        raw = resource.read_bytes()
    except OSError as error:
        raise MnistDataError(
            f"{SAMPLE_FILE}: the embedded MNIST sample is missing from the installed package "
            f"({error}); reinstall jaxdl"
        ) from None
    return load_sample_bytes(raw)


def load_sample_bytes(raw: bytes) -> dict[str, np.ndarray]:
    """Arrays of a sample npz, each checked against the SHA-256 in its metadata (read-only)."""
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    metadata = json.loads(str(arrays["metadata"]))
    for key, expected in metadata["sha256"].items():
        found = hashlib.sha256(np.ascontiguousarray(arrays[key]).tobytes()).hexdigest()
        if found != expected:
            raise MnistDataError(
                f"{SAMPLE_FILE}:{key}: expected sha256 {expected}, found {found}; "
                "the package data is corrupt, reinstall jaxdl"
            )
    for array in arrays.values():
        array.setflags(write=False)
    return arrays


def sample_metadata() -> dict:
    """Provenance of the embedded sample: source files and their SHA-256, seed, licence."""
    return json.loads(str(_sample_arrays()["metadata"]))


def _from_sample(split: str) -> tuple[Batch, tuple[FileCheck, ...]]:
    arrays = _sample_arrays()
    images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    validate_pair(
        images,
        labels,
        images_name=f"{SAMPLE_FILE}:{split}_images",
        labels_name=f"{SAMPLE_FILE}:{split}_labels",
    )
    metadata = sample_metadata()
    checks = tuple(
        FileCheck(f"{SAMPLE_FILE}:{key}", "package data", metadata["sha256"][key], "verified")
        for key in (f"{split}_images", f"{split}_labels")
    )
    return Batch(images, labels), checks


# --- local directory -----------------------------------------------------------------------


def _find(directory: Path, base: str) -> Path:
    dotted = base.replace("-idx", ".idx")
    candidates = [base, base + ".gz", dotted, dotted + ".gz"]
    for name in candidates:
        if (directory / name).is_file():
            return directory / name
    raise MnistDataError(
        f"{directory}: expected an MNIST file named {' or '.join(candidates)}, found none; "
        + HOW_TO_SUPPLY.format(cache=default_cache_dir() / "mnist")
    )


def _read_checked(path: Path, magic: int, base: str) -> tuple[np.ndarray, FileCheck]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise MnistDataError(f"{path}: cannot read: {error.strerror or error}") from None
    data = decompress(raw, name=str(path))
    array = parse_idx(data, name=str(path), magic=magic)
    found = hashlib.sha256(data).hexdigest()
    expected = SHA256_DECOMPRESSED.get(base)
    status = (
        "no published checksum"
        if expected is None
        else "verified"
        if found == expected
        else "differs from published MNIST"
    )
    return array, FileCheck(path.name, str(path), found, status)


def _from_directory(
    split: str, directory: Path, *, count: int | None
) -> tuple[Batch, tuple[FileCheck, ...]]:
    image_base, label_base = FILES[(split, "images")], FILES[(split, "labels")]
    image_path, label_path = _find(directory, image_base), _find(directory, label_base)
    images, image_check = _read_checked(image_path, IMAGES_MAGIC, image_base)
    labels, label_check = _read_checked(label_path, LABELS_MAGIC, label_base)
    validate_pair(
        images, labels, images_name=str(image_path), labels_name=str(label_path), count=count
    )
    return Batch(images, labels), (image_check, label_check)


# --- download ------------------------------------------------------------------------------


def _parse_checksum(checksum: str, *, name: str) -> tuple[str, str]:
    algorithm, _, digest = checksum.partition(":")
    if algorithm not in ("sha256", "md5") or not digest:
        raise MnistDataError(
            f"{name}: checksum must look like 'sha256:<hex>' or 'md5:<hex>', got {checksum!r}"
        )
    return algorithm, digest.lower()


def _new_hash(algorithm: str):
    # MD5 appears only because some mirrors publish it: integrity, not security.
    return hashlib.new(algorithm, usedforsecurity=False)


def _file_digest(path: Path, algorithm: str) -> str:
    digest = _new_hash(algorithm)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _AttemptFailed(Exception):
    pass


def _download_to(url: str, target: Path, algorithm: str, expected: str, *, timeout: float) -> None:
    """Stream ``url`` into a temporary file beside ``target``; rename only if it checks out."""
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".part", dir=target.parent
    )
    try:
        digest, size = _new_hash(algorithm), 0
        request = urllib.request.Request(url, headers={"User-Agent": "jaxdl"})
        with os.fdopen(handle, "wb") as out:
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    announced = response.headers.get("Content-Length")
                    for block in iter(lambda: response.read(1 << 16), b""):
                        out.write(block)
                        digest.update(block)
                        size += len(block)
            except urllib.error.HTTPError as error:
                raise _AttemptFailed(f"HTTP {error.code} {error.reason}") from None
            except urllib.error.URLError as error:
                raise _AttemptFailed(f"unreachable ({error.reason})") from None
            except (OSError, http.client.HTTPException) as error:
                raise _AttemptFailed(
                    f"interrupted after {size} bytes ({type(error).__name__}: {error})"
                ) from None
            out.flush()
            os.fsync(out.fileno())
        if announced is not None and size != int(announced):
            raise _AttemptFailed(f"interrupted: received {size} of {announced} bytes")
        found = digest.hexdigest()
        if found != expected:
            raise _AttemptFailed(
                f"checksum mismatch: expected {algorithm} {expected}, found {found}"
            )
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def fetch(
    filename: str,
    *,
    mirrors: Sequence[str] = MIRRORS,
    checksum: str | None = None,
    directory: str | os.PathLike | None = None,
    timeout: float = 60.0,
) -> Path:
    """Return the path of ``filename`` in the cache, downloading and verifying it if needed.

    A cached file is re-hashed on every call and used only if it matches. Otherwise each
    mirror is tried in order; a download lands in a temporary file and replaces the cached one
    only after its checksum matches.

    Args:
      filename: e.g. ``"train-images-idx3-ubyte.gz"``.
      mirrors: base URLs; ``mirror + filename`` is fetched.
      checksum: ``"sha256:<hex>"`` or ``"md5:<hex>"``; defaults to the published one.
      directory: the cache directory; defaults to ``default_cache_dir() / "mnist"``.
      timeout: seconds per connection attempt.

    Raises:
      DownloadError: every mirror failed; the message names the file, the expected checksum,
        each URL tried and what went wrong, and how to supply the file by hand.
    """
    directory = Path(directory) if directory is not None else default_cache_dir() / "mnist"
    if checksum is None:
        if filename not in SHA256:
            raise MnistDataError(f"{filename}: no published checksum known; pass checksum=")
        checksum = SHA256[filename]
    algorithm, expected = _parse_checksum(checksum, name=filename)
    target = directory / filename
    attempts = []
    if target.is_file():
        found = _file_digest(target, algorithm)
        if found == expected:
            return target
        attempts.append(f"cached {target}: {algorithm} {found} (not used)")
    if not mirrors:
        attempts.append("no mirrors given")
    else:
        directory.mkdir(parents=True, exist_ok=True)
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            _download_to(url, target, algorithm, expected, timeout=timeout)
            return target
        except _AttemptFailed as failure:
            attempts.append(f"{url}: {failure}")
    raise DownloadError(
        f"could not get {filename} (expected {algorithm} {expected}); tried "
        + "; ".join(attempts)
        + "; "
        + HOW_TO_SUPPLY.format(cache=directory)
    )


def _from_download(
    split: str,
    *,
    mirrors: Sequence[str],
    checksums: Mapping[str, str],
    directory: Path,
    count: int | None,
    timeout: float,
) -> tuple[Batch, tuple[FileCheck, ...]]:
    arrays, checks = [], []
    for kind, magic in (("images", IMAGES_MAGIC), ("labels", LABELS_MAGIC)):
        filename = FILES[(split, kind)] + ".gz"
        if filename not in checksums:
            raise MnistDataError(f"{filename}: no checksum given in checksums=")
        path = fetch(
            filename,
            mirrors=mirrors,
            checksum=checksums[filename],
            directory=directory,
            timeout=timeout,
        )
        raw = path.read_bytes()
        arrays.append(parse_idx(decompress(raw, name=str(path)), name=str(path), magic=magic))
        checks.append(FileCheck(filename, str(path), hashlib.sha256(raw).hexdigest(), "verified"))
    images, labels = arrays
    validate_pair(
        images,
        labels,
        images_name=checks[0].location,
        labels_name=checks[1].location,
        count=count,
    )
    return Batch(images, labels), tuple(checks)
