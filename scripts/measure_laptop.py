"""Time ``jaxdl run NAME`` for every chapter, as a learner's laptop runs it: docs/laptop.json.

Each chapter runs twice as a whole command (``python -m jaxdl run NAME``): the first
fills the compilation cache, the second is timed, start to exit. The file records the date,
the machine's cores and its load average before and after, so the docs can say what was
measured where ("On a laptop" under each chapter's title). A run that started on a loaded
machine, or beside other work (:func:`jaxdl.machine.is_measurement`), is not a measurement: it
writes nothing and exits 1.

    python scripts/measure_laptop.py [--out docs/laptop.json] [NAME ...]
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(name: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "jaxdl", "run", name],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    return seconds, done.stdout.splitlines()[0].split(": ", 1)[1]  # "name: headline"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="chapters to time (default: every one)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "laptop.json"))
    args = parser.parse_args(argv)
    from jaxdl import machine, milestones

    names = args.names or [m.name for m in milestones.MILESTONES]
    before = machine.snapshot()
    chapters = {}
    for name in names:
        _run(name)  # fills the compilation cache
        seconds, headline = _run(name)
        chapters[name] = {"seconds": round(seconds, 1), "headline": headline}
        print(f"{name}: {seconds:.1f} s  {headline}", flush=True)
    after = machine.snapshot()
    print(machine.verdict(before, after))
    if not machine.is_measurement(before, after):
        return 1
    record = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{before.cores} CPU cores, no GPU",
        "load": [round(before.one, 1), round(after.one, 1)],
        "command": "python -m jaxdl run NAME, second run (compilation cache warm)",
        "chapters": chapters,
    }
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
