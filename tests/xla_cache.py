"""The suite's persistent XLA compilation caches (arranged by tests/conftest.py).

Most of the suite's time is XLA compiling, and much of it compiles again a program the same test
process has compiled already: in the commands a test starts, in the docs build's kernels and the
notebooks run alone, and in fresh closures of one function. So each pytest process (each xdist
worker) has a persistent cache of its own, which the processes it starts inherit through the
environment. Results are the same programs', bit for bit.

Not one cache for both workers: JAX writes an entry in place and unlocked (its lock comes with
eviction, which rereads every entry at each write: a shared cache with a size limit made the
suite slower), so two workers compiling one program at once could tear it; and giving the
workers' own compilations a shared cache of entries renamed into place, apart from their
children's, made the suite slower than one cache per worker shared with its children. Children
started side by side turn it off (``tests.children.NO_SHARED_CACHE``).

The caches lie in one temporary directory, made by the run's first pytest process and removed by
it at the end (a worker exits without running its ``atexit`` hooks). A cache the user set
(``JAX_COMPILATION_CACHE_DIR`` before the run) is left alone.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

#: The run's directory, one folder in it per test process.
RUN = "JAXDL_TESTS_XLA_CACHE"
#: Which test process set the ``JAX_COMPILATION_CACHE_DIR`` in the environment.
OWNER = "JAXDL_TESTS_XLA_CACHE_OF"


def arrange() -> None:
    """Before JAX is imported: this test process's cache, in the environment it and its
    children read."""
    owner = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if "JAX_COMPILATION_CACHE_DIR" in os.environ and OWNER not in os.environ:
        return
    if RUN not in os.environ:
        os.environ[RUN] = tempfile.mkdtemp(prefix="jaxdl-tests-xla-")
        atexit.register(shutil.rmtree, os.environ[RUN], ignore_errors=True)
    if os.environ.get(OWNER) != owner:
        (Path(os.environ[RUN]) / owner).mkdir(exist_ok=True)
        os.environ |= {
            OWNER: owner,
            "JAX_COMPILATION_CACHE_DIR": str(Path(os.environ[RUN]) / owner),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        }
