"""HTML from the package's Jinja2 templates (parity/reports/templates), and the number formats every report shares."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache

from parity import __version__


def fmt(value) -> str:
    """3 significant digits; '-' for a missing value; 'inf'/'nan' as such."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return "0" if value == 0 else f"{value:.3g}"
    return str(value)


def pct(ci: dict | None) -> str:
    """'81.3% (95% CI 79.0 to 83.6, 5 seeds)' for an accuracy summary over seeds."""
    if not ci or ci.get("n", 0) == 0:
        return "-"
    if ci["n"] == 1:
        return f"{100 * ci['mean']:.1f}% (1 seed, no CI)"
    return f"{100 * ci['mean']:.1f}% (95% CI {100 * ci['low']:.1f} to {100 * ci['high']:.1f}, {ci['n']} seeds)"


def pts(ci: dict | None, digits: int = 2) -> str:
    """'+1.23 [-0.40, +2.86]': a change in accuracy points with its 95% CI."""
    if not ci or ci.get("n", 0) == 0:
        return "-"
    return f"{100 * ci['mean']:+.{digits}f} [{100 * ci['low']:+.{digits}f}, {100 * ci['high']:+.{digits}f}]"


def share(ci: dict | None) -> str:
    if not ci or ci.get("n", 0) == 0:
        return "-"
    return f"{100 * ci['mean']:.0f}% [{100 * ci['low']:.0f}, {100 * ci['high']:.0f}]"


ZERO = 1e-12  # accuracy fractions closer to 0 than this are rounding, not an effect


def clear(ci: dict | None) -> bool:
    """A CI that excludes zero (more than one seed)."""
    return bool(ci and ci.get("n", 0) > 1 and (ci["low"] > ZERO or ci["high"] < -ZERO))


def anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def json_safe(value):
    """NaN and inf are not JSON: write them as strings so results.json stays valid."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(results: dict) -> str:
    return json.dumps(json_safe(results), indent=1, allow_nan=False, default=str)


@lru_cache(maxsize=1)
def environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("parity.reports", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fmt=fmt, pct=pct, pts=pts, share=share, anchor=anchor)
    env.tests["clear"] = clear
    return env


def render(template: str, **context) -> str:
    """A template (report.md or report.html) rendered from a report's context: a key the context lacks is an
    error (StrictUndefined), never an empty cell."""
    return environment().get_template(template).render(parity_version=__version__, **context)


html = render
