"""Typed, bounded reading of the JSON a repo provides (config.json, hf_quant_config.json, the Hub's model info).

That JSON is untrusted: a count may arrive as a string, a list, `true`, NaN, 1e308 or 10^400. Every value the
facts use is read through `Fields`. A value of the wrong type or outside its sane range is recorded as a problem
that names the field ("config.json: num_attention_heads is 0; it must be at least 1") and then reads as absent,
so no arithmetic ever sees it, and the advisor answers "unknown" instead of guessing.

Booleans are not numbers here (Python's `True == 1` notwithstanding): `"num_hidden_layers": true` is a problem.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

# Upper bounds: far above every published model, low enough that per-layer work stays trivial.
MAX_LAYERS = 4096  # deepest published decoders: 126 layers (Llama-3.1-405B); also bounds layer lists
MAX_WIDTH = 1 << 20  # hidden/MLP/head/latent sizes: the widest published is 53,248 (Llama-3.1-405B's MLP)
MAX_HEADS = 4096  # attention heads: the most published is 128 (DeepSeek-V3, Llama-3.1-405B)
MAX_EXPERTS = 1 << 16  # routed experts: the most published is 512 (Qwen3-Next)
MAX_VOCAB = 1 << 24  # the largest published vocabularies are ~262k (Gemma 3)
MAX_CONTEXT = 1 << 30  # the longest published context is 10M tokens (Llama-4 Scout)
MAX_FILE_BYTES = 1 << 50  # 1 PiB: no single weight file comes near
MAX_TEXT = 200  # names, dtypes, methods: longer is not a name
MAX_PROBLEMS = 12  # a config wrong everywhere still gets a readable list

_WHAT = {"int": "a whole number", "text": "a string", "flag": "true or false", "object": "an object",
         "list": "a list"}


def show(value: Any) -> str:
    """A short, terminal-safe rendering of a JSON value for a sentence."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value.bit_length() > 60:  # 10^400 prints 401 digits; the size is what matters
            return f"{'-' if value < 0 else ''}about 10^{int(value.bit_length() * math.log10(2))}"
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return f"{value:g}"
    if isinstance(value, str):
        # json.dumps escapes control characters, so a hostile string cannot drive the terminal.
        return json.dumps(value if len(value) <= 40 else value[:40] + "…")
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Fields:
    """One JSON object, read field by field; problems go to a list shared by everything read from one model."""

    def __init__(self, data: Any, source: str, problems: list[str], path: str = "") -> None:
        self._data: dict[str, Any] = data if isinstance(data, dict) else {}
        self.source = source  # "config.json", "hf_quant_config.json", "the Hub's model info"
        self.path = path  # "text_config." inside config.json
        self.problems = problems

    @classmethod
    def top(cls, data: Any, source: str, problems: list[str]) -> Fields:
        """A whole file's object; anything else (a list, a number) is a problem and reads as empty."""
        if data is not None and not isinstance(data, dict):
            problems.append(f"{source} is {show(data)}, not {_WHAT['object']}")
        return cls(data, source, problems)

    def __bool__(self) -> bool:  # like the dict: an empty object is falsy
        return bool(self._data)

    def name(self, key: str) -> str:
        return f"{self.path}{key}"

    def problem(self, sentence: str) -> None:
        """Record a problem about this object ("hidden_size 4095 is not a multiple of …")."""
        message = f"{self.source}: {sentence}"
        if message not in self.problems and len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)

    def _wrong(self, name: str, value: Any, kind: str) -> None:
        self.problem(f"{name} is {show(value)}, not {_WHAT[kind]}")

    def present(self, key: str) -> bool:
        """The field is there and not null (null is how configs say "not set")."""
        return self._data.get(key) is not None

    def raw(self, key: str) -> Any:
        """The untyped value, only to choose between the forms a field legitimately takes."""
        return self._data.get(key)

    def integer(self, key: str, *, low: int = 1, high: int) -> int | None:
        return self._int(self._data.get(key), self.name(key), low, high)

    def _int(self, value: Any, name: str, low: int, high: int) -> int | None:
        if value is None:
            return None
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)  # 4096.0 is a whole number written oddly; 1e308 becomes a huge int, refused below
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong(name, value, "int")
            return None
        if value < low:
            self.problem(f"{name} is {show(value)}; it must be at least {low}")
            return None
        if value > high:
            self.problem(f"{name} is {show(value)}; it must be at most {high:,}")
            return None
        return value

    def first_key(self, keys: tuple[str, ...]) -> str | None:
        """Which of several spellings of one field this object uses (the first present)."""
        return next((k for k in keys if self.present(k)), None)

    def first_int(self, keys: tuple[str, ...], *, low: int = 1, high: int) -> int | None:
        key = self.first_key(keys)
        return self.integer(key, low=low, high=high) if key else None

    def width(self, *keys: str) -> int | None:
        """A matrix width under the first of several spellings that is set; 0 counts as unset."""
        return next((w for w in (self.integer(k, low=0, high=MAX_WIDTH) for k in keys) if w), None)

    def text(self, key: str, *, max_len: int = MAX_TEXT) -> str | None:
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self._wrong(self.name(key), value, "text")
            return None
        if len(value) > max_len:
            self.problem(f"{self.name(key)} is {len(value):,} characters long; it must be at most {max_len:,}")
            return None
        if not value.isprintable():  # it will be printed: no terminal control sequences
            self.problem(f"{self.name(key)} is {show(value)}, which has control characters")
            return None
        return value

    def flag(self, key: str) -> bool | None:
        value = self._data.get(key)
        if value is None or isinstance(value, bool):
            return value
        self._wrong(self.name(key), value, "flag")
        return None

    def sub(self, key: str) -> Fields | None:
        """A nested object, or None when absent (or not an object: a problem)."""
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self._wrong(self.name(key), value, "object")
            return None
        return Fields(value, self.source, self.problems, f"{self.name(key)}.")

    def obj(self, key: str) -> Fields:
        """Like `sub`, but an empty object stands in for a missing one (read as "nothing declared")."""
        return self.sub(key) or Fields({}, self.source, self.problems, f"{self.name(key)}.")

    def subs(self) -> Iterator[tuple[str, Fields]]:
        """The values of this object that are objects (config_groups, quantized_layers)."""
        for key, value in self._data.items():
            if isinstance(value, dict):
                yield str(key), Fields(value, self.source, self.problems, f"{self.name(str(key))}.")
            elif value is not None:
                self._wrong(self.name(str(key)), value, "object")

    def _list(self, key: str, max_len: int) -> list[Any] | None:
        value = self._data.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self._wrong(self.name(key), value, "list")
            return None
        if len(value) > max_len:
            self.problem(f"{self.name(key)} has {len(value):,} entries; it must have at most {max_len:,}")
            return None
        return value

    def objects(self, key: str, *, max_len: int) -> list[Fields] | None:
        """A list of objects (the model info's siblings); entries that are not objects are problems."""
        values = self._list(key, max_len)
        if values is None:
            return None
        found = []
        for i, value in enumerate(values):
            name = f"{self.name(key)}[{i}]"
            if isinstance(value, dict):
                found.append(Fields(value, self.source, self.problems, f"{name}."))
            else:
                self._wrong(name, value, "object")
        return found

    def ints(self, key: str, *, low: int, high: int, max_len: int) -> list[int] | None:
        """A list of whole numbers; one bad entry makes the whole list unusable."""
        values = self._list(key, max_len)
        if values is None:
            return None
        read: list[int] = []
        for i, value in enumerate(values):
            number = self._int(value, f"{self.name(key)}[{i}]", low, high)
            if number is None:
                if value is None:
                    self._wrong(f"{self.name(key)}[{i}]", value, "int")
                return None
            read.append(number)
        return read

    def texts(self, key: str, *, max_len: int) -> list[str] | None:
        """A list of strings; one bad entry makes the whole list unusable."""
        values = self._list(key, max_len)
        if values is None:
            return None
        for i, value in enumerate(values):
            if not isinstance(value, str):
                self._wrong(f"{self.name(key)}[{i}]", value, "text")
                return None
            if len(value) > MAX_TEXT or not value.isprintable():
                self.problem(f"{self.name(key)}[{i}] is {show(value)}, not a name")
                return None
        return list(values)
