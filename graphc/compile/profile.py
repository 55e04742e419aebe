"""Where a compiled function's time goes: wall time per schedule step (a fused kernel or a
single op), measured by an instrumented copy of the generated code (``Function.profile``)."""
from __future__ import annotations

import dataclasses

from graphc.ir.fusion import FusionGroup
from graphc.ir.tensor import format_shape


@dataclasses.dataclass
class StepTime:
    index: int          # position in the schedule
    what: str           # "kernel: elementwise (256, 512): add → relu" or "matmul (256, 512)"
    seconds: float      # mean wall time per call


@dataclasses.dataclass
class Profile:
    """``steps``: every step's mean time per call, slowest first; ``total``: the mean time of
    a whole call (checks, variable reads and updates included), measured apart from the
    instrumented run so the clock reads do not count."""
    name: str
    calls: int
    total: float
    steps: list

    @property
    def in_steps(self) -> float:
        return sum(s.seconds for s in self.steps)

    def table(self, top: int = 15) -> str:
        lines = [f"Profile of {self.name!r}: {self.calls} calls, {self.total * 1e3:.3f} ms per call "
                 f"({self.in_steps * 1e3:.3f} ms in {len(self.steps)} steps, instrumented)",
                 f"  {'ms':>9} {'share':>6}  step"]
        whole = self.in_steps or 1.0
        for s in self.steps[:top]:
            lines.append(f"  {s.seconds * 1e3:9.3f} {s.seconds / whole:6.1%}  #{s.index} {s.what}")
        rest = self.steps[top:]
        if rest:
            lines.append(f"  {sum(s.seconds for s in rest) * 1e3:9.3f} "
                         f"{sum(s.seconds for s in rest) / whole:6.1%}  ({len(rest)} more steps)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def describe_step(step) -> str:
    if isinstance(step, FusionGroup):
        return f"kernel: {step.describe()}"
    return f"{step.op} {format_shape(step.shape)} {step.name!r}"


def build(name, steps, step_seconds, calls, total) -> Profile:
    rows = [StepTime(i, describe_step(step), t / calls)
            for i, (step, t) in enumerate(zip(steps, step_seconds)) if step.inputs or isinstance(step, FusionGroup)]
    rows.sort(key=lambda r: -r.seconds)
    return Profile(name, calls, total, rows)
