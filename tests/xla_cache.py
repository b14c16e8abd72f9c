"""The suite's persistent XLA compilation cache (arranged by tests/conftest.py).

Most of the suite's time is XLA compiling, and much of it compiles again a program another
process of the run has compiled already: the other xdist worker, the commands a test starts,
the docs build's kernels (a chapter's notebook trains what its tests and the tour train), and
fresh closures of one function. So every process of the run, both workers and the processes
they start, shares one persistent cache through the environment. Results are the same
programs', bit for bit.

JAX writes an entry in place, unlocked (its lock comes with eviction, which rereads every entry
at each write: a cache with a size limit made the suite slower). The test processes' own
entries are written whole and renamed into place (:func:`write_whole_entries`); a process they
start writes as JAX does, and reading an entry another process is still writing costs a
warning and a compilation, never a wrong program (JAX checks what it reads). Children started
side by side, which would compile the same programs at the same moment, turn the cache off
(``tests.children.NO_SHARED_CACHE``).

The cache lies in a temporary directory, made by the run's first pytest process and removed by
it at the end (a worker exits without running its ``atexit`` hooks). A cache the user set
(``JAX_COMPILATION_CACHE_DIR`` before the run) is left alone.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

#: The run's cache directory, made by its first pytest process and inherited by every other.
RUN = "JAXDL_TESTS_XLA_CACHE"


def arrange() -> None:
    """Before JAX is imported: the run's cache, in the environment this process and its
    children read."""
    if "JAX_COMPILATION_CACHE_DIR" in os.environ and RUN not in os.environ:
        return
    if RUN not in os.environ:
        os.environ[RUN] = tempfile.mkdtemp(prefix="jaxdl-tests-xla-")
        atexit.register(shutil.rmtree, os.environ[RUN], ignore_errors=True)
    os.environ |= {
        "JAX_COMPILATION_CACHE_DIR": os.environ[RUN],
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def write_whole_entries() -> None:
    """Make this process write each cache entry to a file of its own and rename it into place
    (atomic): another process finds the whole entry or none."""
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
