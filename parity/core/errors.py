"""The one error type for bad input or usage; the CLI turns it into exit code 2."""


class ParityError(Exception):
    """A user-facing error whose message names the thing and the value at fault."""


def unknown(thing: str, value, choices) -> ParityError:
    """`resize method 'bicubic2' is not one of: a, b, c`."""
    return ParityError(f"{thing} {value!r} is not one of: {', '.join(sorted(choices))}")


class Interrupted(Exception):
    """Ctrl-C during work: the CLI prints the message (what was kept) and exits 130 (143 after a SIGTERM)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, a CI job cancelled) while the CLI runs: raised in its main thread, and a
    KeyboardInterrupt, so that it takes Ctrl-C's way out: temporary folders removed, finished runs kept in the
    store, no report written."""
