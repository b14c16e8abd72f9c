import numpy as np
import pytest

from jaxdl.data import text


def test_tokenize():
    assert text.tokenize("Great movie, isn't it? 10/10") == [
        "great",
        "movie",
        "isn't",
        "it",
        "10",
        "10",
    ]


def test_vocabulary_by_frequency_then_alphabet():
    vocab = text.build_vocabulary(["b a b", "c a b"], max_size=2)
    assert vocab.tokens == (text.PAD, text.UNK, "b", "a")
    assert vocab.id("b") == 2 and vocab.id("c") == 1  # cut by max_size -> unknown
    assert (
        text.build_vocabulary(["c a b", "b a b"]).tokens
        == text.build_vocabulary(["b a b", "c a b"]).tokens
    )
    assert "c" not in text.build_vocabulary(["b a b", "c a b"], min_count=2).tokens


def test_encode_pads_and_cuts():
    vocab = text.build_vocabulary(["good bad"])
    ids, lengths = text.encode(["good", "bad good zzz", ""], vocab, max_length=2)
    assert ids.dtype == np.int32 and ids.shape == (3, 2)
    np.testing.assert_array_equal(
        ids, [[vocab.id("good"), 0], [vocab.id("bad"), vocab.id("good")], [0, 0]]
    )
    np.testing.assert_array_equal(lengths, [1, 2, 1])


def test_read_csv_with_quotes_and_word_labels(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('Text,Label\n"good, really good",Positive\nbad,0\n"meh",neg\n')
    texts, labels = text.read_labelled_csv(path)
    assert texts == ["good, really good", "bad", "meh"]
    assert labels == [1, 0, 0]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("review,sentiment\nx,1\n", r"lacks column\(s\) text, label"),
        ("text\nx\n", r"lacks column\(s\) label"),
        ("text,label\nx,2\n", "line 2: label '2' is not binary"),
        ("text,label\nx,\n", "label '' is not binary"),
        ("text,label\n", "no rows"),
    ],
)
def test_read_csv_bad_input(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        text.read_labelled_csv(path)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        text.read_labelled_csv(tmp_path / "nope.csv")


def test_a_byte_order_mark_is_not_part_of_the_header(tmp_path):
    # Excel's "CSV UTF-8" starts with EF BB BF: it was read as a column "\ufefftext".
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\ngood,1\nbad,0\n")
    assert text.read_labelled_csv(path) == (["good", "bad"], [1, 0])


@pytest.mark.parametrize(
    "content, message",
    [
        (b"text,label\ngood,1\ncaf\xe9,0\n", "bad.csv line 3: not UTF-8 text (byte 0xe9"),
        (b"text,label\n" + b"x" * 200_000 + b",1\n", "bad.csv line 2: not readable as CSV"),
    ],
    ids=["latin-1-byte", "huge-field"],
)
def test_unreadable_csv_names_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        text.read_labelled_csv(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_directory_is_not_reported_as_missing(tmp_path):
    with pytest.raises(ValueError, match="is a directory; give the path of a .csv file"):
        text.read_labelled_csv(tmp_path)


@pytest.mark.parametrize(
    "texts, kwargs, message",
    [
        ([], {}, "empty vocabulary"),
        (["!!! ..."], {}, "empty vocabulary"),
        (["a b"], {"min_count": 2}, "empty vocabulary"),
        (["a"], {"max_size": 0}, "max_size"),
        (["a"], {"min_count": 0}, "min_count"),
    ],
)
def test_vocabulary_bad_input(texts, kwargs, message):
    with pytest.raises(ValueError, match=message):
        text.build_vocabulary(texts, **kwargs)


# ------------------------------------------------------------------ plain text as characters


def test_read_text_refuses_what_is_not_usable_text(tmp_path):
    def write(name, data):
        path = tmp_path / name
        path.write_bytes(data)
        return path

    good = write("good.txt", "\ufeffto be or not to be\n".encode() * 10)
    assert text.read_text(good).startswith("to be")  # byte-order mark dropped
    cases = [
        (tmp_path / "missing.txt", "does not exist"),
        (tmp_path, "is a directory"),
        (write("empty.txt", b""), "is empty"),
        (write("nul.bin", b"abc\x00def" * 50), r"looks binary \(a NUL byte at offset 3\)"),
        (write("latin1.txt", b"caf\xe9 " * 50), r"not UTF-8 \(byte 0xe9 at offset 3\)"),
        (write("short.txt", b"hello"), "has 5 characters; at least 100 are needed"),
    ]
    for path, message in cases:
        with pytest.raises(ValueError, match=message):
            text.read_text(path)
    with pytest.raises(ValueError, match="more than the 50 accepted"):
        text.read_text(good, max_bytes=50)


def test_characters_round_trip_and_refuse_unknown_characters():
    chars = text.Characters.of("banana split")
    assert chars.chars == " abilnpst" and len(chars) == 9
    ids = chars.encode("pan")
    assert ids.dtype == np.int32 and chars.decode(ids) == "pan"
    with pytest.raises(ValueError, match=r"character 'z' \(position 1\) is not in the vocabulary"):
        chars.encode("az")
    train, val = text.split_train_validation(np.arange(10))
    assert train.tolist() == list(range(9)) and val.tolist() == [9]
