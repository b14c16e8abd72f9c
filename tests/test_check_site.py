"""scripts/check_site.py finds each defect a learner would hit, and passes a clean page.

It drives Debian's Chromium (apt-get install chromium chromium-driver, as .ci/run does) on a
three-page site written here (a clean page, a page with every defect, and a numbered source
page the listings link to), so it costs one browser start per width, not a docs build.
"""

from __future__ import annotations

import importlib.util
import struct
import zlib
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_site.py"


def _load_checker():
    spec = importlib.util.spec_from_file_location("check_site", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png(width: int, height: int) -> bytes:
    """A grey PNG of the given size: enough for the browser to know its drawn width."""
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PAGE = """<!doctype html><html><head><style>
article {{ max-width: 600px; }} img {{ max-width: 100%; }} pre {{ overflow-x: auto; }}
mjx-container, mjx-math {{ display: block; }}
</style></head><body><article><section id="top">
{body}
</section></article></body></html>"""

CLEAN = (
    """
<p>See <a href="bad.html#top">the other page</a> and <a href="#top">the top</a>.</p>
<pre>short = 1</pre>
<pre>"""
    + "y" * 60
    + """</pre>
<figure><img src="small.png" alt="drawn for the column"><figcaption>A grey bar.</figcaption>
</figure>
<div class="jaxdl-listing"><div class="caption">f, from
<a href="_modules/demo.html#L2">jaxdl/demo.py, lines 2-3</a></div>
<pre>def f(x):
    return x</pre></div>
<div class="math"><mjx-container display="true"><mjx-math style="width: 300px">x</mjx-math>
</mjx-container></div>
"""
)

BAD = (
    """
<p>Raw math: <span class="math">\\(x^2\\)</span></p>
<pre>"""
    + "x" * 200
    + """</pre>
<img src="big.png" alt="drawn too wide">
<img src="missing.png" alt="never drawn">
<div class="output stderr"><pre>Warning: /home/builder/.venv/lib/site.py</pre></div>
<a href="nowhere.html">dead</a> <a href="index.html#no-such-anchor">dead anchor</a>
<img src="small.png">
<img src="small.png" alt="small.png">
<img src="small.png" alt="3f2a9c0b1d4e5f60718293a4b5c6d7e8">
<img src="small.png" alt="../_images/3f2a9c0b1d4e5f60718293a4b5c6d7e8.png">
<figure><img src="small.png" alt="a grey bar whose caption is empty"><figcaption>
<span class="caption-number">Fig. 3 </span><span class="caption-text"></span></figcaption>
</figure>
<div class="jaxdl-listing"><div class="caption">f, from
<a href="_modules/demo.html">jaxdl/demo.py, lines 2-3</a></div>
<pre>def f(x):
    return x</pre></div>
<div class="jaxdl-listing"><div class="caption">g, from
<a href="_modules/demo.html#L1">jaxdl/demo.py, lines 1-2</a></div>
<pre>def g(y):
    return y</pre></div>
<div class="math"><mjx-container display="true"><mjx-math style="width: 900px">x</mjx-math>
</mjx-container></div>
<p>A long name: <code>"""
    + "jaxdl_" * 60
    + """</code></p>
"""
)


#: A source page as viewcode writes it with line numbers, each number an anchor (docs/_ext).
SOURCE = """<!doctype html><html><body><article><h1>Source code for demo</h1>
<div class="highlight"><pre><span></span><span class="linenos" id="L1">1</span><span class="sd">\"\"\"A demo.\"\"\"</span>
<span class="linenos" id="L2">2</span><span class="k">def</span> <span class="nf">f</span><span class="p">(</span><span class="n">x</span><span class="p">):</span>
<span class="linenos" id="L3">3</span>    <span class="k">return</span> <span class="n">x</span>
</pre></div></article></body></html>"""


@pytest.fixture(scope="module")
def findings(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    (site / "index.html").write_text(PAGE.format(body=CLEAN))
    (site / "bad.html").write_text(PAGE.format(body=BAD))
    (site / "_modules").mkdir()
    (site / "_modules" / "demo.html").write_text(SOURCE)
    (site / "small.png").write_bytes(_png(500, 20))
    (site / "big.png").write_bytes(_png(1200, 20))
    n_pages, problems = _load_checker().check_site(site, width=(1280, 390), height=900)
    assert n_pages == 3
    return problems


def test_clean_pages_pass(findings):
    clean = ("index.html", "_modules/demo.html")
    assert not [p for p in findings if p.startswith(clean)], findings


@pytest.mark.parametrize(
    "defect",
    [
        "math not rendered",
        "raw LaTeX shown",
        "wider than its column",
        "image shrunk to 50%",
        "image not loaded: missing.png",
        "stderr output cell",
        "broken link nowhere.html: no such file",
        "broken link index.html#no-such-anchor: no anchor #no-such-anchor",
        "image with no alt text: small.png",
        "image with alt text is a file name ('small.png')",
        "image with alt text is a hash",
        "image with alt text is a file name ('../_images/3f2a9c0b",
        "figure without a caption: big.png",
        "figure without a caption: small.png",
        "link to source lands off its lines: _modules/demo.html names lines 2-3 but does not "
        "link line 2",
        'link to source lands off its lines: _modules/demo.html#L1: line 1 reads \'"""A demo.'
        "\"\"\"', not 'def g(y):'",
        "equation wider than its column",
        "(390px): page scrolls sideways",
        "(390px): equation wider than its column",
    ],
)
def test_each_defect_is_found(findings, defect):
    assert any(p.startswith("bad.html") and defect in p for p in findings), findings


def test_a_phone_may_scroll_code_inside_its_box_but_names_what_sticks_out(findings):
    # the clean page's 60-character code line scrolls inside its box on a phone: no defect
    assert not [p for p in findings if p.startswith("index.html")], findings
    sideways = [p for p in findings if p.startswith("bad.html (390px): page scrolls sideways")]
    assert sideways and "code" in sideways[0], findings
