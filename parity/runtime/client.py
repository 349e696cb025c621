"""The typed door from the front to a backend: `client("keras_tf").classifier.train_steps(...)`.

A client's attributes are the Protocol modules of parity.runtime.protocols, and theirs are the Protocol's
members: a misspelt component or function fails at lookup with the names that exist, not as a string target in a
worker. A call forwards to the backend's worker (parity.runtime.workers.call), or runs in place inside it.
`on(model)` is the client of the backend that keeps `model`: a Handle carries its backend, and a raw model can
only be one of this worker's own.
"""

from __future__ import annotations

import functools
import inspect

from parity.core.errors import ParityError
from parity.runtime import workers
from parity.runtime.backends import current, get_backend
from parity.runtime.protocols import PROTOCOLS
from parity.runtime.workers import Handle


@functools.cache
def functions_of(protocol: type) -> frozenset[str]:
    """The callable members a Protocol declares (its tables, such as METHODS, are read inside the backend)."""
    return frozenset(name for name, value in vars(protocol).items()
                     if not name.startswith("_") and inspect.isfunction(value))


class Component:
    """One backend module seen through its Protocol: `client.resize.resize(...)`."""

    def __init__(self, backend: str, module: str):
        self._backend, self._module, self._names = backend, module, functions_of(PROTOCOLS[module])
        # the package's own functions (configure_threads, ...) live in its __init__: 'torch_impl:visible_gpus'
        self._prefix = f"{get_backend(backend).package}:" if module == "__init__" else f"{module}."

    def __getattr__(self, name: str):
        if name not in self._names:
            raise AttributeError(f"the {self._module} protocol has no function {name!r} "
                                 f"(it has: {', '.join(sorted(self._names))})")
        return functools.partial(workers.call, self._backend, self._prefix + name)

    def __dir__(self):
        return sorted(self._names)


class Client:
    """A backend's components (`resize`, `data`, `models`, `heads`, `optim`, `schedules`, `loss`, `classifier`),
    its package-level functions (`package.configure_threads`, ...) and `run(fn, ...)` for parity's own code that
    must run in the backend's worker."""

    def __init__(self, backend: str):
        get_backend(backend)
        self.backend = backend

    def __getattr__(self, module: str) -> Component:
        key = "__init__" if module == "package" else module
        if key not in PROTOCOLS:
            raise AttributeError(f"a backend has no component {module!r} "
                                 f"(components: {', '.join(sorted(m for m in PROTOCOLS if m != '__init__'))})")
        return Component(self.backend, key)

    def run(self, function, *args, **kwargs):
        """Run `function`, a module-level function of parity, in this backend's worker (in place inside it)."""
        return workers.call(self.backend, workers.target_of(function), *args, **kwargs)

    def __repr__(self):
        return f"client({self.backend!r})"


@functools.cache
def client(backend: str) -> Client:
    return Client(backend)


def backend_of(model) -> str:
    """The backend that keeps `model`: a Handle's own; a raw framework object is this worker's."""
    if isinstance(model, Handle):
        return model.backend
    here = current()
    if here is None:
        raise ParityError(f"{type(model).__name__} is not a model handle: models live in a backend's worker, and "
                          f"the front is given the handle a build call returned")
    return here


def on(model) -> Client:
    return client(backend_of(model))
