"""The data fixtures (a closed port for failed downloads) serve the ``jaxdl data`` tests too."""

from tests.data.conftest import closed_port_url  # noqa: F401 - re-exported as a fixture
