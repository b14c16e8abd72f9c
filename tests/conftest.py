"""Test configuration: strict JAX numerics and bounded, reproducible Hypothesis runs.

``JAXDL_HYPOTHESIS_PROFILE=dev`` (or ``ci``) picks the profile; CI (``CI`` set) defaults to
``ci``, a derandomised profile with enough examples to mean something.
"""

from __future__ import annotations

import os

# The CLI turns on a persistent compilation cache in ~/.cache; tests call it in-process, so keep
# it off here unless asked for (tests/test_cache.py turns it on in a temporary directory).
os.environ.setdefault("JAXDL_COMPILATION_CACHE", "0")

# One persistent XLA compilation cache for every process of the run instead (tests/xla_cache.py).
from tests import xla_cache  # noqa: E402

xla_cache.arrange()

from tests.children import catch_ignored_signals  # noqa: E402

# Children the tests signal start with SIGINT, SIGTERM and SIGHUP at their defaults, however the
# suite was launched (`nohup ... &` included): see tests/children.py.
catch_ignored_signals()

import jax  # noqa: E402

xla_cache.write_whole_entries()
from hypothesis import HealthCheck, settings  # noqa: E402

# Gradient comparisons are made in float64; silent rank promotion is an error.
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "ci", max_examples=40, derandomize=True, database=None, print_blob=True, **_COMMON
)
settings.register_profile("dev", max_examples=10, **_COMMON)
settings.load_profile(
    os.environ.get("JAXDL_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)
