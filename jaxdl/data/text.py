"""Text for the sentiment classifier: a labelled-CSV reader and a small vocabulary builder.

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
"""

from __future__ import annotations

import collections
import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxdl.validate import require_positive_int

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


def read_labelled_csv(path: str | Path) -> tuple[list[str], list[int]]:
    """Read ``(texts, labels)`` from a UTF-8 CSV file with ``text`` and ``label`` columns.

    A byte-order mark (what Excel writes before the header) is skipped.

    Raises:
      ValueError: one line naming the file (and the line, where there is one): the path is
        missing or a directory, the bytes are not UTF-8, the CSV is malformed (a field longer
        than the csv module's limit, say), the file is empty, lacks either column, has a row
        without a label, or a label that is not binary (0/1, negative/positive, neg/pos).
    """
    path = Path(path)
    name = str(path)
    if path.is_dir():
        raise ValueError(f"CSV file {name!r} is a directory; give the path of a .csv file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"CSV file {name!r} does not exist") from None
    except OSError as error:
        raise ValueError(f"CSV file {name!r}: cannot read: {error.strerror or error}") from None
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(
            f"{name} line {line}: not UTF-8 text (byte 0x{raw[error.start]:02x} at offset "
            f"{error.start}); save the file as UTF-8"
        ) from None
    reader = csv.DictReader(io.StringIO(content, newline=""))
    try:
        fieldnames = reader.fieldnames
        if not fieldnames:
            raise ValueError(f"CSV file {name!r} is empty; expected a header 'text,label'")
        columns = [c.strip().lower() for c in fieldnames]
        missing = [c for c in ("text", "label") if c not in columns]
        if missing:
            raise ValueError(
                f"CSV file {name!r} lacks column(s) {', '.join(missing)}; its header is "
                f"{', '.join(fieldnames)}; expected 'text,label'"
            )
        text_key = fieldnames[columns.index("text")]
        label_key = fieldnames[columns.index("label")]
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
    except csv.Error as error:
        raise ValueError(
            f"{name} line {reader.line_num + 1}: not readable as CSV ({error}); check the quoting, "
            "or split a field that long"
        ) from None
    if not texts:
        raise ValueError(f"CSV file {name!r} has a header but no rows")
    return texts, labels
