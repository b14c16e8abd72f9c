"""``python -m jaxdl.exercises.worker NAME FILE EXAMPLES``: judge one file, print one JSON line.

The subprocess that :func:`jaxdl.exercises.grade_file` starts (and kills at its time limit):
the learner's code runs here, never in the ``jaxdl`` process. The verdict is the last line of
standard output, as JSON; anything the learner's code prints is swallowed.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    name, path, examples = argv
    real_stdout = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the learner's prints (even from C) vanish
    from jaxdl import cache
    from jaxdl.exercises.judge import judge_file

    try:
        cache.enable()
    except ValueError:
        pass  # a bad JAXDL_COMPILATION_CACHE only costs compilation time here
    verdict = judge_file(path, name, examples=int(examples))
    real_stdout.write(json.dumps(verdict.as_json()) + "\n")
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
