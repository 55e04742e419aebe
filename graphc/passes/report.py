"""What a pass reports: its name, node counts before and after, and what it changed."""
from __future__ import annotations

import collections
import dataclasses


@dataclasses.dataclass
class PassReport:
    name: str
    nodes_before: int
    nodes_after: int
    changes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    seconds: float = 0.0
    notes: list = dataclasses.field(default_factory=list)  # (node, remark) pairs for explain()
    round: int | None = 1  # None: a final pass, run once after the rounds

    def summary(self) -> str:
        if not self.changes:
            return "no change"
        return ", ".join(f"{what} ×{n}" if n > 1 else what for what, n in self.changes.most_common())
