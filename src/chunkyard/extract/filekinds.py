"""The one table of file kinds and programming languages, judged by a file's name.

Everything that turns a name into a kind or a language reads it from here: the extractors
(stored files, the CLI), pasted text in previews and compares (`pasted.py`) and `recommend`;
the strategies read the kind and language the Document carries, never a name. Two tables
once disagreed (`d.mts` was TypeScript in a job and plain text in a preview), so a preview did
not equal its job. Pure functions of a string: no file system access. Extensions name their
language through `core.languages.LANGUAGES`, the table fence words use too.
"""

from __future__ import annotations

from pathlib import PurePath

from chunkyard.core.languages import LANGUAGES

MARKDOWN_EXTENSIONS = frozenset({"md", "markdown", "mdown", "mkd", "mkdn", "mdx"})
HTML_EXTENSIONS = frozenset({"html", "htm", "xhtml"})
# Plain-text formats whose content is never sniffed as HTML (a .txt holding markup stays text).
TEXT_EXTENSIONS = frozenset({
    "txt", "text", "log", "csv", "tsv", "rst", "adoc", "asciidoc", "org", "tex", "ini", "cfg",
    "conf", "rtf", "srt", "vtt", "properties",
})

# Extension-less file names that are code by convention (lower case).
LANGUAGE_BY_NAME: dict[str, str] = {
    "dockerfile": "dockerfile", "containerfile": "dockerfile",
    "makefile": "make", "gnumakefile": "make", "cmakelists.txt": "cmake",
    "jenkinsfile": "groovy", "rakefile": "ruby", "gemfile": "ruby",
}


def extension(filename: str | None) -> str:
    """The lower-cased extension of `filename` without the dot, "" when there is none."""
    return PurePath(filename).suffix.lower().lstrip(".") if filename else ""


def language_for(filename: str | None) -> str | None:
    """The programming language of a source file, judged by its name; None for non-code."""
    if not filename:
        return None
    name = PurePath(filename).name.lower()
    if name in LANGUAGE_BY_NAME:
        return LANGUAGE_BY_NAME[name]
    return LANGUAGES.get(extension(filename))


def text_kind_for(filename: str | None) -> str:
    """The kind of a text file by its name alone: "markdown", "code" or "text".

    (HTML, PDF and DOCX are told apart by content too; see `extract.detect.detect_kind`.)
    """
    if extension(filename) in MARKDOWN_EXTENSIONS:
        return "markdown"
    if language_for(filename) is not None:
        return "code"
    return "text"
