"""Text for the language chapters: a labelled-CSV reader and a word vocabulary for the sentiment
classifier, and plain text read as characters for the Transformer (tiny Shakespeare ships with
the package; any UTF-8 file will do).

The CSV has a header row naming (at least) a ``text`` column and a ``label`` column; labels are
``0``/``1`` or ``negative``/``positive`` (also ``neg``/``pos``), case-insensitive. Public data
sets that fit after a one-line conversion (none is shipped with jaxdl):

- IMDB movie reviews (Maas et al. 2011): 50,000 reviews, labels positive/negative; Kaggle's
  ``IMDB Dataset.csv`` has columns ``review,sentiment``: rename them to ``text,label``.
- SST-2 (Stanford Sentiment Treebank, GLUE): TSV ``sentence<TAB>label`` with 0/1.
- Sentiment140 (Go, Bhayani & Huang 2009): tweets labelled 0 (negative) and 4 (positive): map
  4 to 1 and keep the text column.
- Yelp polarity and Amazon polarity (Zhang et al. 2015): labels 1/2: map to 0/1.

Tokens are lower-cased runs of letters, digits and apostrophes. Id 0 pads, id 1 stands for any
word outside the vocabulary.

For the Transformer, a text becomes character ids split 90/10 (:func:`load_text`), and training
batches are random windows drawn on the device (:func:`random_windows`, :func:`window_feed`), as
nanoGPT's ``get_batch`` draws them.
"""

from __future__ import annotations

import collections
import csv
import functools
import hashlib
import io
import lzma
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxdl.data.batches import Feed
from jaxdl.validate import require_positive_int, require_regular_file

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"[a-z0-9']+")
_LABELS = {"0": 0, "1": 1, "negative": 0, "positive": 1, "neg": 0, "pos": 1}


def tokenize(text: str) -> list[str]:
    """Lower-cased words: ``"Great movie, isn't it?" -> ["great", "movie", "isn't", "it"]``."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Words and their ids; ``tokens[0]`` is the padding token, ``tokens[1]`` the unknown word."""

    tokens: tuple[str, ...]

    def __post_init__(self):
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        """The id of ``token``, or 1 (unknown) when it is not in the vocabulary."""
        return self._index.get(token, 1)


def build_vocabulary(
    texts: Iterable[str], *, max_size: int = 5000, min_count: int = 1
) -> Vocabulary:
    """The ``max_size`` most frequent words that occur at least ``min_count`` times.

    Ties are broken alphabetically, so the vocabulary does not depend on the order of ``texts``.

    Args:
      texts: the training texts.
      max_size: most words kept (besides the padding and unknown tokens); at least 1.
      min_count: fewest occurrences for a word to be kept; at least 1.

    Raises:
      ValueError: if no word qualifies (empty texts, or ``min_count`` too high).
    """
    require_positive_int("max_size", max_size)
    require_positive_int("min_count", min_count)
    counts = collections.Counter(token for text in texts for token in tokenize(text))
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    if not kept:
        raise ValueError(
            f"empty vocabulary: no word occurs at least {min_count} time(s) in the texts "
            f"({sum(counts.values())} tokens in all); supply texts with words or lower min_count"
        )
    return Vocabulary((PAD, UNK, *kept[:max_size]))


def encode(
    texts: Sequence[str], vocabulary: Vocabulary, *, max_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Word ids padded with 0 to a fixed width, and the true lengths.

    Returns:
      ``(ids [N, max_length] int32, lengths [N] int32)``; texts longer than ``max_length`` tokens
      are cut, an empty text gets length 1 (a single padding token).
    """
    require_positive_int("max_length", max_length)
    ids = np.zeros((len(texts), max_length), np.int32)
    lengths = np.ones((len(texts),), np.int32)
    for row, text in enumerate(texts):
        tokens = [vocabulary.id(t) for t in tokenize(text)][:max_length]
        ids[row, : len(tokens)] = tokens
        lengths[row] = max(len(tokens), 1)
    return ids, lengths


#: The sentiment classifier reads its rows in mini-batches, but keeps every row's token ids
#: (``max_length`` int32s) and the texts in memory: about 1 kB a row of a short review beside
#: the file itself. Bounded so a file that could not fit a laptop is refused at once.
MAX_CSV_ROWS = 2_000_000
MAX_CSV_BYTES = 512 * 2**20
_SAMPLE_HINT = "use a random sample of the rows"


def read_labelled_csv(path: str | Path) -> tuple[list[str], list[int]]:
    """Read ``(texts, labels)`` from a UTF-8 CSV file with ``text`` and ``label`` columns.

    A byte-order mark (what Excel writes before the header) is skipped.

    Raises:
      ValueError: one line naming the file (and the line, where there is one): the path is
        missing or a directory, the bytes are not UTF-8, the CSV is malformed (a field longer
        than the csv module's limit, say), the file is empty, lacks either column or has one
        twice, has a row without a label, a label that is not binary (0/1, negative/positive,
        neg/pos) or one class only; or it is not a regular file (a FIFO), or larger than
        :data:`MAX_CSV_ROWS` rows or :data:`MAX_CSV_BYTES` bytes.
    """
    path = Path(path)
    name = str(path)
    reader = csv.DictReader(io.StringIO(_csv_content(path, name), newline=""))
    try:
        text_key, label_key = _text_and_label_columns(reader.fieldnames, name)
        texts, labels = _labelled_rows(reader, name, text_key, label_key)
    except csv.Error as error:
        raise ValueError(
            f"{name} line {reader.line_num + 1}: not readable as CSV ({error}); check the quoting, "
            "or split a field that long"
        ) from None
    if not texts:
        raise ValueError(f"CSV file {name!r} has a header but no rows")
    if len(set(labels)) == 1:
        raise ValueError(
            f"CSV file {name!r}: all {len(labels)} labels are {labels[0]}; a classifier of one "
            "class learns nothing (it scores 100% by answering it always): give both classes"
        )
    return texts, labels


def _csv_content(path: Path, name: str) -> str:
    """The file's text, once it is known to be a regular file of bounded size in UTF-8."""
    if path.is_dir():
        raise ValueError(f"CSV file {name!r} is a directory; give the path of a .csv file")
    if path.exists() and not path.is_file():
        raise ValueError(
            f"CSV file {name!r} is not a regular file (a FIFO or a device: reading it could "
            "block forever); give the path of a .csv file"
        )
    if path.is_file() and path.stat().st_size > MAX_CSV_BYTES:
        raise ValueError(
            f"CSV file {name!r} has {path.stat().st_size:,} bytes, more than the "
            f"{MAX_CSV_BYTES:,} read here; {_SAMPLE_HINT}"
        )
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"CSV file {name!r} does not exist") from None
    except OSError as error:
        raise ValueError(f"CSV file {name!r}: cannot read: {error.strerror or error}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(
            f"{name} line {line}: not UTF-8 text (byte 0x{raw[error.start]:02x} at offset "
            f"{error.start}); save the file as UTF-8"
        ) from None


def _text_and_label_columns(fieldnames: Sequence[str] | None, name: str) -> tuple[str, str]:
    """The header's names of the ``text`` and ``label`` columns (any case, spaces around)."""
    if not fieldnames:
        raise ValueError(f"CSV file {name!r} is empty; expected a header 'text,label'")
    columns = [c.strip().lower() for c in fieldnames]
    missing = [c for c in ("text", "label") if c not in columns]
    if missing:
        raise ValueError(
            f"CSV file {name!r} lacks column(s) {', '.join(missing)}; its header is "
            f"{', '.join(fieldnames)}; expected 'text,label'"
        )
    doubled = [c for c in ("text", "label") if columns.count(c) > 1]
    if doubled:
        raise ValueError(
            f"CSV file {name!r} has {len(fieldnames)} columns and {doubled[0]!r} "
            f"{columns.count(doubled[0])} times ({', '.join(fieldnames)}); keep one"
        )
    return fieldnames[columns.index("text")], fieldnames[columns.index("label")]


def _labelled_rows(reader: csv.DictReader, name: str, text_key: str, label_key: str):
    """``(texts, labels)`` of every row; a label that is not binary is refused with its line."""
    texts, labels = [], []
    for row in reader:
        raw_label = (row.get(label_key) or "").strip().lower()
        if raw_label not in _LABELS:
            raise ValueError(
                f"{name} line {reader.line_num}: label {raw_label!r} is not binary; use 0/1 "
                "or negative/positive (map e.g. Sentiment140's 4 to 1)"
            )
        texts.append(row.get(text_key) or "")
        labels.append(_LABELS[raw_label])
        if len(texts) > MAX_CSV_ROWS:
            raise ValueError(
                f"CSV file {name!r} has more than {MAX_CSV_ROWS:,} rows; {_SAMPLE_HINT}"
            )
    return texts, labels


# --------------------------------------------------------------------------------------------
# Characters: tiny Shakespeare, any UTF-8 file, a character vocabulary, nanoGPT's split
# --------------------------------------------------------------------------------------------

#: SHA-256 of the uncompressed tiny Shakespeare (Karpathy's char-rnn ``input.txt``).
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_FILE = "tinyshakespeare.txt.xz"
#: The most bytes :func:`read_text` accepts (the whole text is held in memory as int32 ids).
MAX_TEXT_BYTES = 64 * 2**20
#: The fewest characters :func:`read_text` accepts by default.
MIN_TEXT_CHARS = 100


def shakespeare() -> str:
    """Tiny Shakespeare, 1,115,394 characters, from the package; its SHA-256 checked on load.

    Raises:
      ValueError: the shipped file is damaged (its checksum differs from
        :data:`SHAKESPEARE_SHA256`); reinstall jaxdl.
    """
    from importlib import resources

    packed = resources.files("jaxdl.data").joinpath(SHAKESPEARE_FILE).read_bytes()
    try:
        raw = lzma.decompress(packed)
    except lzma.LZMAError as error:
        raise ValueError(
            f"jaxdl/data/{SHAKESPEARE_FILE} is damaged ({error}); reinstall jaxdl"
        ) from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHAKESPEARE_SHA256:
        raise ValueError(
            f"jaxdl/data/{SHAKESPEARE_FILE} is damaged: SHA-256 {digest}, expected "
            f"{SHAKESPEARE_SHA256}; reinstall jaxdl"
        )
    return raw.decode("utf-8")


def read_text(
    path: str | Path, *, min_chars: int = MIN_TEXT_CHARS, max_bytes: int = MAX_TEXT_BYTES
) -> str:
    """Read a UTF-8 text file for a character-level language model.

    A byte-order mark is dropped; line endings are kept as they are.

    Args:
      path: the file.
      min_chars: fewest characters accepted (a model needs a context's worth in each split).
      max_bytes: most bytes accepted.

    Raises:
      ValueError: one line naming the file: missing, a directory, unreadable, larger than
        ``max_bytes``, empty, binary (a NUL byte, or bytes that are not UTF-8, with the
        offset), or shorter than ``min_chars`` characters.
    """
    require_positive_int("min_chars", min_chars)
    require_positive_int("max_bytes", max_bytes)
    if not os.fspath(path):  # (Path("") is the current directory)
        raise ValueError("text file: the path is empty; give the path of a UTF-8 text file")
    path = Path(path)
    name = str(path)
    raw = _text_bytes(path, name, max_bytes)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(
            f"text file {name!r} is UTF-16 (it starts with a UTF-16 byte-order mark); save it "
            "as UTF-8"
        )
    nul = raw.find(b"\0")
    if nul >= 0:
        raise ValueError(
            f"text file {name!r} looks binary (a NUL byte at offset {nul}); give a UTF-8 text file"
        )
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"text file {name!r} is not UTF-8 (byte 0x{raw[error.start]:02x} at offset "
            f"{error.start}); save it as UTF-8"
        ) from None
    if len(content) < min_chars:
        raise ValueError(
            f"text file {name!r} has {len(content)} characters; at least {min_chars} are needed"
        )
    return content


def _text_bytes(path: Path, name: str, max_bytes: int) -> bytes:
    """The bytes of a regular file that exists, holds some and at most ``max_bytes``."""
    if path.is_dir():
        raise ValueError(f"text file {name!r} is a directory; give the path of a UTF-8 text file")
    if path.exists():  # a FIFO or a device is refused before it is opened (it could block)
        require_regular_file("text file", path, hint="give the path of a UTF-8 text file")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(
                f"text file {name!r} has {size:,} bytes, more than the {max_bytes:,} accepted; "
                "use a part of it"
            )
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise ValueError(f"text file {name!r} does not exist") from None
    except OSError as error:
        raise ValueError(f"text file {name!r}: cannot read: {error.strerror or error}") from None
    if len(raw) > max_bytes:  # grew while we looked, or a device file
        raise ValueError(f"text file {name!r} is larger than the {max_bytes:,} bytes accepted")
    if not raw:
        raise ValueError(f"text file {name!r} is empty")
    return raw


@dataclass(frozen=True)
class Characters:
    """A character vocabulary: the distinct characters of a text, sorted (nanoGPT's
    ``shakespeare_char`` order: id 0 is the smallest code point, ``"\\n"`` in Shakespeare)."""

    chars: str

    def __post_init__(self):
        if not self.chars:
            raise ValueError("a character vocabulary needs at least one character")
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("the characters of a vocabulary must be distinct")
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.chars)})

    @classmethod
    def of(cls, text: str) -> Characters:
        """The vocabulary of every character in ``text``."""
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Ids ``[len(text)]`` int32.

        Raises:
          ValueError: ``text`` holds a character outside the vocabulary (named, with its place).
        """
        try:
            return np.fromiter((self._index[c] for c in text), np.int32, len(text))
        except KeyError as error:
            char = error.args[0]
            raise ValueError(
                f"character {char!r} (position {text.index(char)}) is not in the vocabulary of "
                f"{len(self)} characters"
            ) from None

    def decode(self, ids) -> str:
        """The text of ``ids`` (any integer sequence in ``[0, len(self))``)."""
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))


def split_train_validation(ids: np.ndarray, train_fraction: float = 0.9):
    """nanoGPT's split: the first ``int(train_fraction * N)`` ids train, the rest validate."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction!r}")
    n = int(train_fraction * len(ids))
    return ids[:n], ids[n:]


class CharData(NamedTuple):
    """A text as character ids, split as nanoGPT splits it."""

    chars: Characters  # the vocabulary
    train: np.ndarray  # [N_train] int32
    validation: np.ndarray  # [N_val] int32
    source: str  # "tiny Shakespeare" or the file's path


def load_text(path: str | None, *, context: int) -> CharData:
    """Tiny Shakespeare (``path=None``) or a UTF-8 file, as ids split 90/10.

    Raises:
      ValueError: the file is refused by :func:`jaxdl.data.text.read_text`, or either split is
        too short for one window of ``context + 1`` characters.
    """
    if path is None:
        content, source = shakespeare(), "tiny Shakespeare"
    else:
        content = read_text(path, min_chars=max(MIN_TEXT_CHARS, 0))
        source = str(path)
    chars = Characters.of(content)
    if len(chars) < 2:
        raise ValueError(
            f"text {source!r} is one character repeated: there is nothing to predict; give a "
            "text of at least two different characters"
        )
    train, validation = split_train_validation(chars.encode(content))
    if min(len(train), len(validation)) <= context + 1:
        need = math.ceil((context + 2) / 0.1)
        raise ValueError(
            f"text {source!r} has {len(content)} characters: its 10% validation part is "
            f"{len(validation)}, too short for a context of {context}; give at least {need} "
            "characters or a smaller context"
        )
    return CharData(chars, train, validation, source)


class TextBatch(NamedTuple):
    """Windows of text and the same windows shifted by one character."""

    inputs: jax.Array  # [B, T] int32 character ids
    targets: jax.Array  # [B, T] int32 the next character at every position


def random_windows(
    data: jax.Array,
    key: jax.Array,
    *,
    batch: int,
    context: int,
    start: ArrayLike = 0,
    stop: ArrayLike | None = None,
) -> TextBatch:
    """``batch`` windows of ``context`` characters at uniform random starts, and the same
    windows one character on (the targets).

    The windows lie in ``data[start:stop]`` (default: all of it): their first character is drawn
    from ``[start, stop - context)``, as nanoGPT's ``get_batch`` draws from
    ``[0, len(data) - context)``. ``start`` and ``stop`` may be traced, so the training and the
    validation part of one text share one compiled program.
    """
    stop = data.shape[0] if stop is None else stop
    first = jax.random.randint(key, (batch,), start, stop - context)
    index = first[:, None] + jnp.arange(context)[None, :]
    return TextBatch(data[index], data[index + 1])


@functools.cache
def _window_feed(batch: int, context: int) -> Callable:
    def next_batch(state):
        key, data = state
        key, k_batch = jax.random.split(key)
        return (key, data), random_windows(data, k_batch, batch=batch, context=context)

    return next_batch


def window_feed(data: jax.Array, *, key: jax.Array, batch: int, context: int):
    """A :class:`~jaxdl.data.batches.Feed` of :func:`random_windows`: the state carried from
    step to step is ``(key, data)``; one key is split off per step."""
    return Feed((key, jnp.asarray(data, jnp.int32)), _window_feed(batch, context))
