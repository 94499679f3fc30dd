"""A name -> constructor map, one per concept (losses, penalties, normalizers, ...).

Study files name things by these names; an unknown name is an error that lists the valid ones.
"""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps the names used in study files to objects or constructors of one concept."""

    def __init__(self, concept: str) -> None:
        self.concept = concept
        self._entries: dict[str, T] = {}
        self._retired: dict[str, str] = {}

    def retire(self, name: str, hint: str) -> None:
        """Refuse ``name`` from now on with ``hint`` (what to write instead), so that a name
        whose meaning changed never silently runs something else."""
        self._retired[name] = hint

    def retired(self, name: str) -> str | None:
        """Why ``name`` is no longer accepted and what replaces it, or None."""
        hint = self._retired.get(name)
        return f"{self.concept} {name!r} is no longer accepted: {hint}" if hint else None

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.concept} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str, field: str | None = None) -> T:
        try:
            return self._entries[name]
        except KeyError:
            where = f"{field}: " if field else ""
            if name in self._retired:
                raise ValueError(f"{where}{self.retired(name)}") from None
            raise ValueError(
                f"{where}unknown {self.concept} {name!r}; allowed: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
