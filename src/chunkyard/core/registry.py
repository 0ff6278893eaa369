"""The strategy registry: `@register("name", rank=N)` on a Strategy subclass makes it available
by name. It is the one source of strategy names; `rank` orders them where they are listed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chunkyard.core.strategy import Strategy
from chunkyard.core.types import ChunkingError

_REGISTRY: dict[str, type[Strategy]] = {}
_RANKS: dict[str, int] = {}
S = TypeVar("S", bound=type[Strategy])


def register(name: str, *, rank: int) -> Callable[[S], S]:
    def decorate(cls: S) -> S:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"strategy {name!r} is registered twice ({_REGISTRY[name].__name__} "
                             f"and {cls.__name__})")
        cls.name = name
        _REGISTRY[name] = cls
        _RANKS[name] = rank
        return cls

    return decorate


def strategy_names() -> tuple[str, ...]:
    """Every registered strategy's name, in rank order."""
    _ensure_loaded()
    return tuple(sorted(_REGISTRY, key=lambda n: (_RANKS[n], n)))


def _ensure_loaded() -> None:
    # Importing the package registers the built-in strategies.
    import chunkyard.core.strategies  # noqa: F401


def strategy_class(name: str) -> type[Strategy]:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ChunkingError(
            f"unknown strategy {name!r}; choose one of: {', '.join(strategy_names())}"
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
        for n in strategy_names()
    ]
