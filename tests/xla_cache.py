"""The suite's persistent XLA compilation caches (arranged by tests/conftest.py).

Most of the suite's time is XLA compiling, and much of it compiles a program some other process
of the run has compiled already: the other xdist worker, the commands a test starts, the docs
build's kernels and the notebooks run alone. Two caches, in one temporary directory removed at
the end of the run:

- the test processes' own compilations go to one directory for the whole run, written as a new
  file renamed into place (:func:`write_whole_entries`), so that a worker never reads an entry
  the other is still writing;
- each test process gives the processes it starts a directory of its own through the
  environment: they write entries as JAX does, in place, and one test process starts them one at
  a time (children started side by side turn it off: ``tests.children.NO_SHARED_CACHE``).

Results are the same programs', bit for bit. A cache the user set (``JAX_COMPILATION_CACHE_DIR``
before the run) is left alone.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

#: The run's directory, made by its first pytest process (removed by it at the end) and
#: inherited by the workers: ``shared/`` for the test processes' compilations, and one folder
#: per test process for the processes it starts.
RUN = "JAXDL_TESTS_XLA_CACHE"
#: Which test process set the ``JAX_COMPILATION_CACHE_DIR`` its children inherit.
OWNER = "JAXDL_TESTS_XLA_CACHE_OF"


def arrange() -> str | None:
    """Before JAX is imported: this process's children's cache in the environment; returns the
    run's shared directory for this process's own compilations (``None``: the user's cache)."""
    owner = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if "JAX_COMPILATION_CACHE_DIR" in os.environ and OWNER not in os.environ:
        return None
    if RUN not in os.environ:
        os.environ[RUN] = tempfile.mkdtemp(prefix="jaxdl-tests-xla-")
        atexit.register(shutil.rmtree, os.environ[RUN], ignore_errors=True)
    run = Path(os.environ[RUN])
    if os.environ.get(OWNER) != owner or "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        (run / owner).mkdir(exist_ok=True)
        os.environ |= {
            OWNER: owner,
            "JAX_COMPILATION_CACHE_DIR": str(run / owner),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        }
    (run / "shared").mkdir(exist_ok=True)
    return str(run / "shared")


def write_whole_entries() -> None:
    """Make JAX write each cache entry to a file of its own and rename it into place (atomic):
    a reader finds the whole entry or none. JAX writes in place, unlocked unless the cache
    evicts, and its eviction rereads every entry at each write (a shared cache with a size
    limit made the suite slower)."""
    from jax._src import lru_cache

    def put(self, key: str, value: bytes) -> None:
        if not key:
            raise ValueError("key cannot be empty")
        path = self.path / f"{key}{lru_cache._CACHE_SUFFIX}"
        if path.exists():
            return
        part = path.with_name(f"{path.name}.{os.getpid()}.part")
        part.write_bytes(value)
        os.replace(part, path)

    lru_cache.LRUCache.put = put
