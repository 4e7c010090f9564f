"""The record of a training run: one :class:`EpochRecord` per epoch in a :class:`History`."""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..atomic_files import read_json, write_json

__all__ = ["EpochRecord", "History"]


@dataclass
class EpochRecord:
    """Metrics of one training epoch."""

    epoch: int
    """1-based epoch number."""
    train_loss: float
    """Mean training loss per example."""
    train_acc: float
    test_acc: float | None
    """Accuracy on the test data, ``None`` if no test data was given."""
    img_per_s: float
    """Training throughput (examples per second; evaluation excluded)."""
    time_s: float
    """Wall time of the epoch (training + evaluation)."""
    lr: float
    """Learning rate of the epoch's last update."""
    steps: int | None = None
    """Batches trained in the epoch (fewer than planned if a time budget cut it short)."""


@dataclass
class History:
    """Per-epoch training records, JSON-serialisable."""

    records: list[EpochRecord] = field(default_factory=list)
    time_budget_s: float | None = None
    """The ``time_budget_s`` given to :func:`train` (``None``: no budget)."""
    budget_exhausted: bool = False
    """True if training stopped early because the time budget was spent."""

    def append(self, record: EpochRecord) -> None:
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[EpochRecord]:
        return iter(self.records)

    def __getitem__(self, i: int) -> EpochRecord:
        return self.records[i]

    def column(self, name: str) -> list[Any]:
        """All values of one field, e.g. ``history.column("test_acc")``."""
        if name not in {f.name for f in fields(EpochRecord)}:
            raise KeyError(f"unknown column {name!r}; have {[f.name for f in fields(EpochRecord)]}")
        return [getattr(r, name) for r in self.records]

    @property
    def epochs(self) -> list[int]:
        return self.column("epoch")

    @property
    def last(self) -> EpochRecord | None:
        """The most recent record (``None`` if empty)."""
        return self.records[-1] if self.records else None

    @property
    def best(self) -> EpochRecord | None:
        """Record with the highest test accuracy (train accuracy if there is no test data)."""
        if not self.records:
            return None
        if all(r.test_acc is not None for r in self.records):
            return max(self.records, key=lambda r: r.test_acc)
        return max(self.records, key=lambda r: r.train_acc)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"records": [asdict(r) for r in self.records]}
        if self.time_budget_s is not None:
            d["time_budget_s"] = self.time_budget_s
            d["budget_exhausted"] = self.budget_exhausted
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls([EpochRecord(**r) for r in d.get("records", [])],
                   time_budget_s=d.get("time_budget_s"),
                   budget_exhausted=bool(d.get("budget_exhausted", False)))

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON, atomically (creating parent directories)."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        return cls.from_dict(read_json(path))

    def summary(self) -> str:
        """One line describing the last epoch."""
        r = self.last
        if r is None:
            return "no epochs"
        test = f", test acc {r.test_acc:.3f}" if r.test_acc is not None else ""
        return (f"epoch {r.epoch}: loss {r.train_loss:.3f}, train acc {r.train_acc:.3f}{test}, "
                f"{r.img_per_s:.1f} examples/sec")
