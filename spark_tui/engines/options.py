"""Command-line options of an engine's argv, edited as the engine's own parser reads them."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def with_option(argv: Sequence[str], option: str, value: str, spelling: Callable[[str], str] = lambda w: w,
                equals: bool = True) -> tuple[str, ...]:
    """`argv` with `option`'s value replaced wherever it stands (`--port N`, or `--port=N` where the engine's parser
    takes that form: `equals`), or the option added at the end. `spelling` normalises a word as the engine's parser
    does (vLLM reads --max_model_len as --max-model-len)."""
    words = list(argv)
    for i, word in enumerate(words):
        if spelling(word) == option and i + 1 < len(words):
            words[i + 1] = value
            return tuple(words)
        if equals and spelling(word).startswith(option + "="):
            words[i] = f"{option}={value}"
            return tuple(words)
    return (*words, option, value)
