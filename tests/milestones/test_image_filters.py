import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxdl.cli import main
from jaxdl.milestones import image_filters as filters
from jaxdl.nn.affine import conv2d
from tests.scripts import load_script
from tests.strategies import float_arrays

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ZERO_SUM = ("edge", "sobel-x", "sobel-y")
UNIT_SUM = ("sharpen", "emboss", "box-blur", "gaussian-blur")
# One fixed image size keeps Hypothesis from recompiling the convolution per example.
SHAPE = (9, 11)


def test_kernel_sums():
    for name in ZERO_SUM:
        assert filters.KERNELS[name].sum() == pytest.approx(0.0, abs=1e-15)
    for name in UNIT_SUM:
        assert filters.KERNELS[name].sum() == pytest.approx(1.0, abs=1e-15)
    assert set(filters.KERNELS) == set(ZERO_SUM) | set(UNIT_SUM)


@given(
    level=st.floats(-5, 5, allow_nan=False), padding=st.sampled_from(["reflect", "edge", "wrap"])
)
def test_constant_image_gives_zero_edges_and_is_unchanged_by_unit_kernels(level, padding):
    out = filters.filter_bank(np.full(SHAPE, level), padding=padding)
    for name in ZERO_SUM:
        np.testing.assert_allclose(out[name], 0.0, atol=1e-12)
    for name in UNIT_SUM:
        np.testing.assert_allclose(out[name], level, rtol=1e-12, atol=1e-12)


def test_zero_padding_makes_the_border_an_edge():
    # What the CNN does at the border: a flat image seen through zero padding has a frame.
    out = np.asarray(filters.apply_filter(np.ones(SHAPE), "edge", padding="zero"))
    np.testing.assert_allclose(out[1:-1, 1:-1], 0.0, atol=1e-12)
    assert out[0, 0] == pytest.approx(5.0) and out[0, 5] == pytest.approx(3.0)


@given(image=float_arrays(SHAPE, 0.0, 1.0), name=st.sampled_from(["box-blur", "gaussian-blur"]))
def test_blur_preserves_the_mean(image, name):
    # Circular padding: every pixel is counted exactly once per kernel weight.
    out = filters.apply_filter(image, name, padding="wrap")
    assert float(out.mean()) == pytest.approx(image.mean(), rel=1e-12, abs=1e-12)
    # With any padding the blurred image stays within the original's range.
    for padding in ("reflect", "edge"):
        out = np.asarray(filters.apply_filter(image, name, padding=padding))
        assert image.min() - 1e-12 <= out.min() and out.max() <= image.max() + 1e-12


@given(slope=st.floats(-3, 3, allow_nan=False), offset=st.floats(-3, 3, allow_nan=False))
def test_sobel_of_a_ramp_is_constant(slope, offset):
    h, w = SHAPE
    ramp_x = offset + slope * np.tile(np.arange(w, dtype=float), (h, 1))
    ramp_y = offset + slope * np.tile(np.arange(h, dtype=float)[:, None], (1, w))
    out = filters.filter_bank(ramp_x, ["sobel-x", "sobel-y"], padding="edge")
    # (1 + 2 + 1) rows, each a central difference of 2 * slope: 8 * slope away from the border.
    np.testing.assert_allclose(out["sobel-x"][:, 1:-1], 8 * slope, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["sobel-y"], 0.0, atol=1e-12)
    out = filters.filter_bank(ramp_y, ["sobel-x", "sobel-y"], padding="edge")
    np.testing.assert_allclose(out["sobel-y"][1:-1, :], 8 * slope, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["sobel-x"], 0.0, atol=1e-12)


def test_same_convolution_as_the_cnn():
    image = np.random.default_rng(0).random(SHAPE)
    bank = filters.filter_bank(image, ["sharpen", "sobel-x"], padding="zero")
    w = np.stack([filters.KERNELS["sharpen"], filters.KERNELS["sobel-x"]], -1)[:, :, None, :]
    expected = conv2d(image[None, :, :, None], w, np.zeros(2))[0]
    np.testing.assert_allclose(bank["sharpen"], expected[..., 0], rtol=1e-12)
    np.testing.assert_allclose(bank["sobel-x"], expected[..., 1], rtol=1e-12)
    # Cross-correlation, as conv2d computes it: a single bright pixel shows the kernel flipped.
    impulse = np.zeros((5, 5))
    impulse[2, 2] = 1.0
    np.testing.assert_allclose(
        filters.apply_filter(impulse, "sobel-x", padding="zero")[1:4, 1:4],
        filters.KERNELS["sobel-x"][::-1, ::-1],
    )


def test_gaussian_kernel():
    g = filters.gaussian_kernel(5, 1.0)
    assert g.shape == (5, 5) and g.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(g, g.T)
    assert g[2, 2] == g.max()
    for size, sigma in [(4, 1.0), (0, 1.0), (3, 0.0), (3, float("nan"))]:
        with pytest.raises(ValueError, match="Gaussian"):
            filters.gaussian_kernel(size, sigma)


def test_to_grayscale():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 255
    np.testing.assert_allclose(filters.to_grayscale(rgb), 0.299)
    rgba = np.ones((2, 3, 4), np.float32)
    np.testing.assert_allclose(filters.to_grayscale(rgba), 1.0, rtol=1e-6)
    assert filters.to_grayscale(np.ones((4, 4, 1))).shape == (4, 4)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: filters.apply_filter(np.ones((4, 4, 4)), "edge"), r"shape \[H, W\]"),
        (lambda: filters.apply_filter(np.ones(7), "edge"), r"shape \[H, W\]"),
        (lambda: filters.apply_filter(np.ones((3, 3)), "gaussian-blur"), "too small"),
        (lambda: filters.apply_filter(np.full((5, 5), np.nan), "edge"), "NaN"),
        (lambda: filters.apply_filter(np.ones((5, 5)), "blur"), "unknown filter 'blur'"),
        (lambda: filters.apply_filter(np.ones((5, 5)), "edge", padding="mirror"), "padding"),
        (lambda: filters.apply_kernels(np.ones((5, 5)), [np.ones((2, 2))]), "odd sides"),
        (lambda: filters.apply_kernels(np.ones((5, 5)), []), "at least one"),
        (lambda: filters.to_grayscale(np.ones((4, 4, 2))), "C in"),
        (lambda: filters.to_grayscale(np.ones((0, 4))), "empty"),
        (lambda: filters.load_grayscale("/no/such/image.png"), "does not exist"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _write_png(path, pixels):
    import matplotlib.image

    matplotlib.image.imsave(path, pixels, cmap="gray", vmin=0.0, vmax=1.0)


def test_load_png_rgb_to_gray(tmp_path):
    square = np.zeros((12, 16))
    square[3:9, 4:12] = 1.0
    _write_png(tmp_path / "square.png", square)  # imsave writes RGBA
    gray = filters.load_grayscale(tmp_path / "square.png")
    assert gray.shape == (12, 16)
    np.testing.assert_allclose(gray, square, atol=1e-2)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image at all")
    with pytest.raises(ValueError, match="could not read .* as an image"):
        filters.load_grayscale(path)


def test_cli_filters_on_a_user_image(tmp_path, capsys):
    square = np.zeros((20, 24))
    square[5:15, 6:18] = 1.0
    _write_png(tmp_path / "in.png", square)
    out = tmp_path / "grid" / "filters.png"
    assert (
        main(
            [
                "run",
                "image-filters",
                "--image",
                str(tmp_path / "in.png"),
                "--plot",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["result"]["image_shape"] == [20, 24]
    assert report["result"]["flat_image_max_error"] < 1e-12
    low, high = report["result"]["response_range"]["edge"]
    assert low < -1 and high > 1  # the square's outline
    assert out.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    "args",
    [
        ["--image", "/no/such/file.png"],
        ["--digits", "0"],
    ],
)
def test_cli_bad_input_exits_2(tmp_path, capsys, args):
    assert main(["run", "image-filters", *args, "--plot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxdl: error:") and err.count("\n") == 1


def test_cli_non_image_and_bad_padding_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x00" * 64)
    assert (
        main(["run", "image-filters", "--image", str(bad), "--plot", str(tmp_path / "x.png")]) == 2
    )
    assert "as an image" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # argparse refuses a padding outside the choices
        main(["run", "image-filters", "--padding", "mirror", "--plot", str(tmp_path / "x.png")])
    assert info.value.code == 2


def test_mnist_digits_by_default(tmp_path, capsys):
    from jaxdl.milestones import image_filters as chapter

    report = chapter.run(chapter.Config(digits=2))
    assert report.result["image_shape"] == [28, 28]
    assert len(report.result["images"]) == 2 and report.result["images"][0].startswith("MNIST")
    assert report.result["flat_image_max_error"] < 1e-12
    # MNIST is 0 (background) to 1 (ink): a unit-sum blur stays inside [0, 1].
    low, high = report.result["response_range"]["box-blur"]
    assert 0.0 <= low and high <= 1.0 + 1e-12
    with pytest.raises(ValueError, match="digits must be at most"):
        chapter.run(chapter.Config(digits=5000))  # within its bounds, beyond the sample


def test_demo(tmp_path, capsys):
    demo = load_script("demos", "image_filters")
    out = demo.main(["--out", str(tmp_path / "grid.png")])
    printed = capsys.readouterr().out
    for name in filters.KERNELS:
        assert f"{name} kernel:" in printed
    assert "response on MNIST test #0" in printed
    assert (tmp_path / "grid.png").read_bytes()[:8] == PNG_MAGIC and out.endswith("grid.png")


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width x height`` gray pixels over a few bytes of data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))  # fmt: skip


@pytest.mark.parametrize("side", [3000, 20000])
def test_a_huge_image_is_refused_from_its_header_before_decoding(tmp_path, side, monkeypatch):
    import matplotlib.image

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded an image above the pixel limit")

    monkeypatch.setattr(matplotlib.image, "imread", no_decoding)
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header(side, side))
    assert path.stat().st_size < 1000
    with pytest.raises(ValueError, match=r"more than 4194304 pixels \(2048 x 2048\)"):
        filters.load_grayscale(path)


def test_a_directory_is_not_an_image(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        filters.load_grayscale(tmp_path)
