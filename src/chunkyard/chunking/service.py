"""The chunking domain's rules: which configurations a user may run (the core's registry
validates the parameters; server-side files and URLs are for admins only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chunkyard.auth.service import Principal
from chunkyard.chunking.availability import config_problem
from chunkyard.core.registry import strategy_class
from chunkyard.core.types import ChunkingError
from chunkyard.kit.errors import Invalid


@dataclass(frozen=True, slots=True)
class ValidConfig:
    strategy: str
    params: dict[str, Any]  # validated, every default filled in (canonical)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "params": dict(self.params)}


def _server_side_params(params: dict[str, Any]) -> list[str]:
    """Parameters that make the server read its own files or call URLs (admins only)."""
    found = []
    tokenizer = params.get("tokenizer")
    if isinstance(tokenizer, str) and tokenizer.startswith("hf:"):
        found.append("tokenizer")
    model = params.get("embedding_model")
    if isinstance(model, str) and model.strip() not in ("static", "local"):
        found.append("embedding_model")
    if params.get("embedding_url"):
        found.append("embedding_url")
    return found


def validate_config(
    strategy: str, params: dict[str, Any], principal: Principal, *, field: str = "config"
) -> ValidConfig:
    """Check a configuration with the core's registry; Invalid (422) names the bad field."""
    prefix = f"{field}." if field else ""
    try:
        cls = strategy_class(strategy)
    except ChunkingError as exc:
        raise Invalid(f"{prefix}strategy: {exc}", code="invalid_config") from None
    unavailable = config_problem(strategy, params)
    if unavailable is not None:
        where, problem = unavailable
        detail = f" ({problem.detail})" if principal.is_admin else ""
        raise Invalid(f"{prefix}{where}: {strategy} cannot run here: {problem.reason}{detail}",
                      code="unavailable")
    if not principal.is_admin:
        for name in _server_side_params(params):
            raise Invalid(
                f"{prefix}params.{name}: server-side files and URLs are for admins only",
                code="invalid_config",
            )
    try:
        built = cls.from_params(params)
    except ChunkingError as exc:
        raise Invalid(f"{prefix}params: {exc}", code="invalid_config") from None
    return ValidConfig(strategy, built.params.model_dump(mode="json"))
