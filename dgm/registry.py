"""One registry of models, datasets, objectives and metrics.

The CLI (`dgm list`, argument choices), the docs and the parametrised tests all read these
registries, so adding a name here is what makes a component part of dgm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from dgm.errors import DgmError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered component: its name, the object itself and a one-line summary."""

    name: str
    obj: T
    summary: str


class Registry(Generic[T]):
    """A name -> object map that fails with the list of known names on a typo."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, summary: str) -> Callable[[T], T]:
        """Return a decorator that registers its argument under `name`."""

        def decorator(obj: T) -> T:
            self.add(name, obj, summary)
            return obj

        return decorator

    def add(self, name: str, obj: T, summary: str) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, obj, summary)

    def get(self, name: str) -> T:
        try:
            return self._entries[name].obj
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise DgmError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def summary(self, name: str) -> str:
        """The one-line summary `name` was registered with."""
        self.get(name)  # the error with the known names on a typo
        return self._entries[name].summary


MODELS: Registry[Any] = Registry("model")
DATASETS: Registry[Any] = Registry("dataset")
OBJECTIVES: Registry[Any] = Registry("objective")
METRICS: Registry[Any] = Registry("metric")
