"""Report folders: where parity may write one, the marker that says parity wrote it, unique default names,
and the all-or-nothing commit.

A report is built in a temporary sibling folder and renamed into place only once complete. An existing
path is replaced only when it is a report parity itself wrote (its marker lists every file it holds) and
holds nothing else; anything else is refused before any work starts, and nothing parity did not write is
ever deleted.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from parity.core.errors import ParityError

MARKER = ".parity-report.json"
REPORTS_DIR = Path("reports")  # relative to the current folder


def default_out(kind: str) -> Path:
    """reports/<kind>-<UTC time>; a name taken when the report is committed gets a -2, -3, ... suffix."""
    return REPORTS_DIR / f"{kind}-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}"


def read_marker(folder: Path) -> dict | None:
    """The marker of a parity report folder, or None when `folder` is not one."""
    try:
        marker = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and isinstance(marker.get("files"), list) else None


def _existing_ancestor(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def check_writable(folder: Path, what: str) -> None:
    """Create and remove a probe file in `folder` (os.access is not enough: root ignores mode bits)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".parity-probe-", dir=folder)
    except OSError as exc:
        raise ParityError(f"{what} {str(folder)!r} is not writable: {exc.strerror or exc}") from exc
    os.close(fd)
    os.unlink(probe)


def check_out(out: Path, flag: str = "--out") -> Path:
    """Refuse, before any work, an output path parity may not use; return it unchanged otherwise."""
    out = Path(out)
    resolved, cwd = out.resolve(), Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise ParityError(f"{flag} {str(out)!r} is the current folder or one of its parents; name a new folder "
                          f"for the report, e.g. {flag} reports/my-run")
    if out.exists() and not out.is_dir():
        raise ParityError(f"{flag} {str(out)!r} is an existing file; parity writes a report folder and will not "
                          f"replace a file")
    if out.is_dir():
        marker = read_marker(out)
        if marker is None:
            raise ParityError(f"{flag} {str(out)!r} is an existing folder that parity did not write (it has no "
                              f"{MARKER}); choose a new folder, parity will not replace it")
        foreign = sorted(p.name for p in out.iterdir() if p.name not in {*marker["files"], MARKER})
        if foreign:
            raise ParityError(f"{flag} {str(out)!r} is a parity report but also holds files parity did not write "
                              f"({', '.join(foreign[:5])}); move them away or choose a new folder")
    check_writable(_existing_ancestor(resolved.parent), f"{flag} parent folder")
    return out


def _permissive(folder: Path) -> None:
    """mkdtemp makes 0700 folders; a report is as readable as any file the user creates (umask applies)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)


def _numbered(out: Path, n: int) -> Path:
    return out if n == 1 else out.with_name(f"{out.name}-{n}")


def _replace(tmp: Path, out: Path) -> None:
    """Swap a finished report in for an older parity report at `out`; delete only the files it lists."""
    check_out(out)  # the old report may have changed during the run
    trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.replace(out, trash / "old")
    os.replace(tmp, out)
    old = trash / "old"
    for name in [*read_marker(old)["files"], MARKER]:
        (old / name).unlink(missing_ok=True)
    old.rmdir()
    trash.rmdir()


def _commit(tmp: Path, out: Path, unique: bool) -> Path:
    if out.exists() and not unique:
        _replace(tmp, out)
        return out
    for n in range(1, 1000):
        target = _numbered(out, n)
        if target.exists():
            continue
        try:
            os.rename(tmp, target)  # fails on a non-empty folder another run created meanwhile
            return target
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    raise ParityError(f"no free report name next to {str(out)!r}")


class PendingReport:
    """A report being written: fill `tmp`; after the `with` block, `path` is where it landed."""

    def __init__(self, tmp: Path):
        self.tmp, self.path = tmp, None


@contextmanager
def report_dir(out: Path | None, kind: str):
    """Yield a PendingReport; on success its folder becomes the report at `out` (or at a fresh default
    name), with the marker listing its files; on error it vanishes and nothing else is touched."""
    unique = out is None
    out = Path(out) if out is not None else default_out(kind)
    if not unique:
        check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pending = PendingReport(Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent)))
    try:
        _permissive(pending.tmp)
        yield pending
        files = sorted(p.name for p in pending.tmp.iterdir())
        (pending.tmp / MARKER).write_text(json.dumps({"kind": kind, "files": files}))
        pending.path = _commit(pending.tmp, out, unique)
    finally:
        shutil.rmtree(pending.tmp, ignore_errors=True)  # only our own temporary folder
