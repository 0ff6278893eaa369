"""The strategy registry: `@register("name")` on a Strategy subclass makes it available by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chunkyard.core.strategy import Strategy
from chunkyard.core.types import ChunkingError

STRATEGY_NAMES = ("character", "recursive", "markdown", "semantic", "hierarchical", "hybrid")

_REGISTRY: dict[str, type[Strategy]] = {}
S = TypeVar("S", bound=type[Strategy])


def register(name: str) -> Callable[[S], S]:
    def decorate(cls: S) -> S:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _ensure_loaded() -> None:
    # Importing the package registers the built-in strategies.
    import chunkyard.core.strategies  # noqa: F401


def strategy_class(name: str) -> type[Strategy]:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ChunkingError(
            f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGY_NAMES)}"
        ) from None


def create_strategy(name: str, params: dict[str, Any] | None = None) -> Strategy:
    """A configured strategy; bad parameters raise ChunkingError naming the field."""
    cls = strategy_class(name)
    return cls.from_params(params)


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    description: str
    params_schema: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "params_schema": self.params_schema}


def list_strategies() -> list[StrategyInfo]:
    """The six strategies, in their canonical order, with the JSON Schema of their params."""
    _ensure_loaded()
    return [
        StrategyInfo(n, _REGISTRY[n].description,
                     _REGISTRY[n].Params.model_json_schema())
        for n in STRATEGY_NAMES
        if n in _REGISTRY
    ]
