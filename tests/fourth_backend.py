"""A registry plugin (PARITY_BACKEND_PLUGINS=tests.fourth_backend): one record, and its package tests.twin_impl,
are all it takes to add a backend."""

from parity.runtime.backends import Backend, register

TWIN = register(Backend("torch_twin", "tests.twin_impl", "torch", "torch",
                        "a fourth backend registered by a test: torch_impl's code under another package, its models "
                        "ported from the torch backend's like a Keras backend's"))
