"""Where things are in a rules file. tomllib gives no line numbers, so these are found by scanning the text for
`[[rule]]` headers, `[[rule.<table>]]` entries, `[rule.<table>]` sections and `key =` lines inside each rule's span."""

from __future__ import annotations

import re


class KeyLines:
    """Line numbers of `[[rule]]` headers, of `[[rule.<table>]]` entries and of `key =` lines within each rule."""

    def __init__(self, text: str, header: str = "rule") -> None:
        self.lines = text.splitlines()
        pattern = re.compile(rf"^\s*\[\[\s*{header}\s*\]\]")
        self.starts = [i + 1 for i, line in enumerate(self.lines) if pattern.match(line)]

    def rule_line(self, index: int) -> int:
        return self.starts[index] if index < len(self.starts) else 1

    def _end(self, index: int) -> int:
        return self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines) + 1

    def table_lines(self, index: int, table: str) -> list[int]:
        """Lines of each `[[rule.<table>]]` header inside rule `index`, in order."""
        pattern = re.compile(rf"^\s*\[\[\s*rule\.{re.escape(table)}\s*\]\]")
        return [n for n in range(self.rule_line(index), self._end(index)) if pattern.match(self.lines[n - 1])]

    def entry_line(self, index: int, table: str, number: int, key: str | None = None) -> int | None:
        """The line of `key =` in the number-th [[rule.<table>]] entry (else its header); None for inline entries."""
        headers = self.table_lines(index, table)
        if number >= len(headers):
            return None
        start = headers[number]
        if key is None:
            return start
        end = next((n for n in range(start + 1, self._end(index)) if self.lines[n - 1].lstrip().startswith("[[")),
                   self._end(index))
        return self._find(key, start, end) or start

    def _find(self, leaf: str, start: int, end: int) -> int | None:
        pattern = re.compile(rf"^\s*(\"?){re.escape(leaf)}\1\s*=|^\s*\[\[?\s*rule\.{re.escape(leaf)}\s*\]?\]")
        return next((n for n in range(start, end) if pattern.search(self.lines[n - 1])), None)

    def key_line(self, index: int, key: str) -> int:
        start, end = self.rule_line(index), self._end(index)
        table, _, leaf = key.rpartition(".")
        if table:  # when.engine: look inside the [rule.when] section first (unless.engine is another line)
            header = re.compile(rf"^\s*\[\s*rule\.{re.escape(table)}\s*\]")
            found = next((n for n in range(start, end) if header.match(self.lines[n - 1])), None)
            if found:
                stop = next((n for n in range(found + 1, end) if self.lines[n - 1].lstrip().startswith("[")), end)
                return self._find(leaf, found + 1, stop) or found
        for part in reversed(key.split(".")):  # launch_env.X in an inline table: the launch_env line
            line = self._find(part, start, end)
            if line:
                return line
        return start
