"""A bounded least-recently-used memo: a worker's decoded data, inputs and features (parity.train.training), and the
bodies torch_impl builds again and again (torch_impl.models); and the code generation a memo of what code computed
is keyed by, bumped by whatever swaps code at run time (the self-test's patches)."""

from __future__ import annotations

from collections import OrderedDict


class BoundedMemo:
    """key -> value computed once, the `max_entries` most recently used kept."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._memo: OrderedDict = OrderedDict()

    def get(self, key, compute):
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        value = compute()
        self._memo[key] = value
        while len(self._memo) > self.max_entries:
            self._memo.popitem(last=False)
        return value

    def __contains__(self, key) -> bool:  # a look, not a use: the order of recency stays
        return key in self._memo

    def keys(self) -> list:
        return list(self._memo)

    def clear(self) -> None:
        self._memo.clear()


_CODE_GENERATION = [0]


def code_changed() -> None:
    """Code was swapped in this process (a patch applied or undone): what was computed before is stale."""
    _CODE_GENERATION[0] += 1


def code_generation() -> int:
    return _CODE_GENERATION[0]
