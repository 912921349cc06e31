"""Limits on the work one call may do, so that pathological input gets a clear error instead of a hang.

`md.limits` holds them; change one for the whole process with ``md.limits.max_nodes = 10**6``, or for a
block with ``with md.limits.raised(max_nodes=10**6): ...``. Exceeding a limit raises `LimitError` (a
`MatdiffError`) that names the limit and how to raise it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

from ._errors import MatdiffError, advised


class LimitError(MatdiffError):
    """A computation that would exceed one of `md.limits`; the message names the limit."""


@dataclass
class Limits:
    """The limits in force (see the module docstring). Each is a positive whole number.

    - `max_nodes`: new expression nodes one derivative (with its simplification) may create;
    - `max_depth`: how deeply an expression may nest (text is limited further by the parser);
    - `max_matrix_power`: the largest |k| in a matrix power A^k (computed by repeated squaring);
    - `max_check_entries`: entries of the largest array md.check may evaluate when it draws sizes.
    """

    max_nodes: int = 200_000
    max_depth: int = 10_000
    max_matrix_power: int = 10_000
    max_check_entries: int = 20_000

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in {f.name for f in fields(self)}:
            raise AttributeError(f"md.limits has no limit {name!r}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"md.limits.{name} must be a positive whole number, got {value!r}")
        super().__setattr__(name, value)

    @contextmanager
    def raised(self, **values: int) -> Iterator[Limits]:
        """Set some limits for the duration of a `with` block, then restore them."""
        saved = {name: getattr(self, name) for name in values}
        for name, value in values.items():
            setattr(self, name, value)
        try:
            yield self
        finally:
            for name, value in saved.items():
                setattr(self, name, value)

    def exceeded(self, name: str, what: str) -> LimitError:
        """The error for `what` going past the limit `name`."""
        value = getattr(self, name)
        return advised(LimitError, f"{what} exceeds matdiff's limit {name} = {value:,}", "limit", limit=name)


limits = Limits()
"""The limits in force for this process."""


class NodeBudget:
    """Counts the nodes a computation creates (by `count`, the number that exist) and raises LimitError
    once it has created more than md.limits.max_nodes. Call `check()` as the computation goes."""

    def __init__(self, count: Callable[[], int], what: str) -> None:
        self.count, self.what, self.start = count, what, count()

    def check(self) -> None:
        created = self.count() - self.start
        if created > limits.max_nodes:
            raise limits.exceeded("max_nodes", f"{self.what} ({created:,} new expression nodes so far)")
