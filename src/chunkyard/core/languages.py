"""Programming languages and the words that name them: a language's name or one of its file
extensions, as a markdown fence's info word gives it (```` ```py ````). The core reads fence
words; the file-name table that maps names to kinds and languages is the extractors'
(`extract/filekinds.py`), built on this one.
"""

from __future__ import annotations

# Extension (lower case, no dot) -> language; the language names are also fence info words.
LANGUAGES: dict[str, str] = {
    "py": "python", "pyi": "python", "pyw": "python",
    "js": "javascript", "mjs": "javascript", "cjs": "javascript", "jsx": "javascript",
    "ts": "typescript", "mts": "typescript", "cts": "typescript", "tsx": "typescript",
    "java": "java", "go": "go", "rs": "rust",
    "c": "c", "h": "c",
    "cpp": "cpp", "cc": "cpp", "cxx": "cpp", "hpp": "cpp", "hh": "cpp", "hxx": "cpp",
    "cs": "csharp", "rb": "ruby", "php": "php", "swift": "swift",
    "kt": "kotlin", "kts": "kotlin", "scala": "scala",
    "sh": "shell", "bash": "shell", "zsh": "shell",
    "sql": "sql", "css": "css", "scss": "scss", "less": "less",
    "yaml": "yaml", "yml": "yaml", "toml": "toml", "json": "json", "xml": "xml",
    "lua": "lua", "r": "r", "pl": "perl", "pm": "perl", "dart": "dart",
    "ex": "elixir", "exs": "elixir", "erl": "erlang", "hs": "haskell", "ml": "ocaml",
    "jl": "julia", "clj": "clojure", "vue": "vue", "svelte": "svelte", "ps1": "powershell",
    "tf": "hcl", "proto": "protobuf", "graphql": "graphql",
}
LANGUAGE_NAMES = frozenset(LANGUAGES.values())


def language_of_word(word: str) -> str | None:
    """The language a fence info word names: a language name or one of its extensions."""
    word = word.lower()
    if word in LANGUAGE_NAMES:
        return word
    return LANGUAGES.get(word)
