"""What this installation can run, said by the server: per strategy `available` and
`unavailable_reason`, and the tokenizers and embedding models it has. A configuration that asks
for something missing is refused (422) when it is validated, naming the field, so it never
fails later in a job or takes a whole comparison down with it. The reason is a sentence for a
user; which packages are missing, and how to install them, is told to administrators only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chunkyard.core.registry import strategy_names
from chunkyard.core.sizing.registry import BUILTIN
from chunkyard.embedding.available import Problem, importable, local_model_problem


@dataclass(frozen=True, slots=True)
class Choice:
    """One value a parameter can take here (a pattern such as `hf:PATH` for a family)."""

    value: str
    description: str
    problem: Problem | None = None


def tokenizer_choices() -> list[Choice]:
    choices = [Choice(name, f"built in: {name}") for name in BUILTIN]
    hf = None if importable("tokenizers") else Problem(
        "Hugging Face tokenizer files cannot be read on this server",
        "missing Python package: tokenizers; pip install tokenizers",
    )
    choices.append(Choice("hf:PATH", "a Hugging Face tokenizer.json on the server (admins)", hf))
    return choices


def embedding_model_choices() -> list[Choice]:
    return [
        Choice("static", "a static model distilled from all-MiniLM-L6-v2, bundled: numpy only, "
               "fast (the default)", local_model_problem("static")),
        Choice("local", "all-MiniLM-L6-v2 itself, contextual, on the CPU (slower)",
               local_model_problem("local")),
        Choice("static:PATH", "a model2vec static model folder on the server (admins)",
               local_model_problem("static:PATH")),
        Choice("local:PATH", "a sentence-transformers model folder on the server (admins)",
               local_model_problem("local:PATH")),
        Choice("embedding_url", "an OpenAI-compatible embeddings endpoint (admins)"),
    ]


def options_of(strategy: str) -> dict[str, list[Choice]]:
    """The parameters of `strategy` whose values depend on what is installed."""
    options = {"tokenizer": tokenizer_choices()}
    if strategy == "semantic":
        options["embedding_model"] = embedding_model_choices()
    return options


def config_problem(strategy: str, params: dict[str, Any]) -> tuple[str, Problem] | None:
    """The field (`strategy` or `params.<name>`) of the configuration that cannot run here,
    and why; None when all of it can."""
    tokenizer = params.get("tokenizer")
    if isinstance(tokenizer, str) and tokenizer.startswith("hf:"):
        problem = tokenizer_choices()[-1].problem
        if problem is not None:
            return "params.tokenizer", problem
    if strategy == "semantic" and not params.get("embedding_url"):
        model = params.get("embedding_model")
        problem = local_model_problem(model if isinstance(model, str) else "static")
        if problem is not None:
            return ("params.embedding_model" if model else "strategy"), problem
    return None


def strategy_problem(strategy: str) -> Problem | None:
    """Why `strategy` with its default parameters cannot run here (None: it can)."""
    found = config_problem(strategy, {})
    return found[1] if found else None


def unavailable_names() -> list[str]:
    return [name for name in strategy_names() if strategy_problem(name) is not None]
