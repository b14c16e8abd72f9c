"""The IDX file format of MNIST: parse it, and refuse anything that is not what it claims.

An IDX file is a big-endian header followed by raw data::

    bytes 0-1   zero
    byte  2     element type (0x08 = unsigned byte, the only type MNIST uses)
    byte  3     number of dimensions d
    bytes 4..   d big-endian uint32 sizes, then prod(sizes) elements

Read as one big-endian uint32, the first four bytes are the "magic number": 2051 (0x00000803)
for an image file ``[N, 28, 28]`` and 2049 (0x00000801) for a label file ``[N]``. Files may be
gzipped (``.gz``, detected from the content, not the name).

Every check raises :class:`MnistDataError` (a ``ValueError``) with one message naming the file,
what was expected and what was found.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 2051  # unsigned bytes, 3 dimensions: [N, rows, cols]
LABELS_MAGIC = 2049  # unsigned bytes, 1 dimension: [N]
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
GZIP_MAGIC = b"\x1f\x8b"


class MnistDataError(ValueError):
    """A data file is missing, corrupt, truncated or not what it claims to be."""


def decompress(data: bytes, *, name: str) -> bytes:
    """Return ``data`` gunzipped if it is gzip (by content), else unchanged.

    Args:
      data: the raw bytes of a file.
      name: the file's name or path, for error messages.

    Never expands more than the IDX header announces (plus one byte, to see trailing data):
    a gzip bomb (6 MB that expand to 6 GiB) costs no more memory than the data it claims to be.

    Raises:
      MnistDataError: the file is named ``.gz`` but is not gzip, the gzip stream is
        truncated or corrupt, or its header announces more than :data:`MAX_DATA_BYTES`.
    """
    if data[:2] == GZIP_MAGIC:
        try:
            return _gunzip_bounded(data, name=name)
        except (EOFError, OSError, zlib.error) as error:
            raise MnistDataError(
                f"{name}: corrupt or truncated gzip data ({len(data)} bytes read): {error}; "
                "delete it and fetch it again"
            ) from None
    if str(name).endswith(".gz"):
        raise MnistDataError(
            f"{name}: expected gzip data (a .gz file starts with bytes 1f 8b), "
            f"found {data[:4].hex(' ') or 'an empty file'}"
        )
    return data


#: The most data bytes an IDX file may announce: 1 GiB (1.3 million 28x28 images; the full
#: MNIST training set is 47 MB). Beyond, the file is refused before it is expanded.
MAX_DATA_BYTES = 2**30
_MAX_HEADER = 4 + 4 * 255


def _announced_size(head: bytes) -> int | None:
    """Header plus data bytes that the IDX header ``head`` announces (``None``: not IDX)."""
    if len(head) < 4 or head[:3] != b"\x00\x00\x08" or head[3] == 0:
        return None
    header_size = 4 + 4 * head[3]
    if len(head) < header_size:
        return None
    shape = struct.unpack(f">{head[3]}I", head[4:header_size])
    return header_size + int(np.prod(shape, dtype=np.int64))


def _gunzip_bounded(data: bytes, *, name: str) -> bytes:
    """Gunzip ``data`` (every member), stopping one byte past the size its IDX header gives."""
    out = bytearray()
    limit = _MAX_HEADER  # until the header is read
    rest = data
    while rest and len(out) <= limit:
        if rest[:2] != GZIP_MAGIC:
            break  # (gzip.decompress ignores padding after the last member; so does this)
        stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
        chunk = rest
        while chunk and len(out) <= limit and not stream.eof:
            out += stream.decompress(chunk, limit + 1 - len(out))
            chunk = stream.unconsumed_tail
            if len(out) >= _MAX_HEADER or stream.eof or not chunk:
                announced = _announced_size(bytes(out[:_MAX_HEADER]))
                if announced is not None and limit == _MAX_HEADER:
                    if announced - _MAX_HEADER > MAX_DATA_BYTES:
                        raise MnistDataError(
                            f"{name}: its header announces {announced:,} bytes, more than the "
                            f"{MAX_DATA_BYTES:,} jaxdl reads from one IDX file"
                        )
                    limit = announced
                elif announced is None and len(out) >= _MAX_HEADER:
                    return bytes(out)  # not IDX: parse_idx says why
        if not stream.eof:
            if len(out) > limit:
                break  # trailing data: parse_idx refuses it without expanding the rest
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        rest = stream.unused_data
    return bytes(out)


def parse_idx(data: bytes, *, name: str, magic: int | None = None) -> np.ndarray:
    """Parse uncompressed IDX bytes into a read-only uint8 array.

    Args:
      data: the file's bytes, already decompressed.
      name: the file's name or path, for error messages.
      magic: the required magic number (2051 images, 2049 labels), or ``None`` for any
        unsigned-byte IDX file.

    Returns:
      uint8 array whose shape is the header's dimensions.

    Raises:
      MnistDataError: bad magic number, unsupported element type, or a size that does not
        match the header (truncated or with trailing bytes).
    """
    if len(data) < 4:
        raise MnistDataError(f"{name}: truncated: expected an IDX header, found {len(data)} bytes")
    found_magic = struct.unpack(">I", data[:4])[0]
    if magic is not None and found_magic != magic:
        what = {IMAGES_MAGIC: "an image file", LABELS_MAGIC: "a label file"}.get(magic, "IDX")
        raise MnistDataError(f"{name}: expected magic number {magic} ({what}), found {found_magic}")
    zeros, dtype_code, ndim = data[:2], data[2], data[3]
    if zeros != b"\x00\x00" or dtype_code != 0x08 or ndim == 0:
        raise MnistDataError(
            f"{name}: expected an unsigned-byte IDX file (header 00 00 08 <ndim>), "
            f"found header {data[:4].hex(' ')}"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise MnistDataError(
            f"{name}: truncated: expected a {header_size}-byte header, found {len(data)} bytes"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    expected = int(np.prod(shape, dtype=np.int64))
    found = len(data) - header_size
    if found != expected:
        state = "truncated" if found < expected else "trailing bytes"
        raise MnistDataError(
            f"{name}: {state}: header says shape {tuple(shape)}, i.e. {expected} data bytes, "
            f"found {found}"
        )
    array = np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)
    return array  # frombuffer over bytes is read-only already


def read_idx(path: str | Path, *, magic: int | None = None) -> np.ndarray:
    """Read an IDX file from disk, gzipped or not (see :func:`parse_idx`).

    Raises:
      MnistDataError: the file is missing, unreadable or invalid.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise MnistDataError(f"{path}: cannot read: {error.strerror or error}") from None
    return parse_idx(decompress(data, name=str(path)), name=str(path), magic=magic)


def validate_images(images: np.ndarray, *, name: str, count: int | None = None) -> None:
    """Check an image array is ``[N, 28, 28]`` uint8 (and ``N == count`` when given)."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise MnistDataError(
            f"{name}: expected uint8 images of shape [N, 28, 28], "
            f"found {images.dtype} {list(images.shape)}"
        )
    if count is not None and images.shape[0] != count:
        raise MnistDataError(f"{name}: expected {count} images, found {images.shape[0]}")


def validate_labels(labels: np.ndarray, *, name: str, count: int | None = None) -> None:
    """Check a label array is ``[N]`` uint8 with every label in 0-9."""
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise MnistDataError(
            f"{name}: expected uint8 labels of shape [N], found {labels.dtype} {list(labels.shape)}"
        )
    if count is not None and labels.shape[0] != count:
        raise MnistDataError(f"{name}: expected {count} labels, found {labels.shape[0]}")
    if labels.size and int(labels.max()) >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise MnistDataError(
            f"{name}: expected labels in 0-9, found {int(labels[bad])} at index {bad}"
        )


def validate_pair(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    images_name: str,
    labels_name: str,
    count: int | None = None,
) -> None:
    """Validate an image file and its label file together (equal counts, non-empty)."""
    validate_images(images, name=images_name, count=count)
    validate_labels(labels, name=labels_name, count=count)
    if images.shape[0] != labels.shape[0]:
        raise MnistDataError(
            f"{images_name} holds {images.shape[0]} images but {labels_name} holds "
            f"{labels.shape[0]} labels: expected equal counts"
        )
    if images.shape[0] == 0:
        raise MnistDataError(f"{images_name}: expected at least one image, found none")


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes (uncompressed) of a uint8 array: the inverse of :func:`parse_idx`."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim == 0:
        raise ValueError(f"expected a uint8 array of rank >= 1, got {array.dtype} {array.shape}")
    header = struct.pack(f">HBB{array.ndim}I", 0, 0x08, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array).tobytes()
