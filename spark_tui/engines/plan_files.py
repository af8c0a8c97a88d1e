"""Files a launch plan carries (LaunchPlan.files, e.g. trtllm-serve's extra LLM-API options YAML): written into the
server's own folder, <state>/files/<name>/, at launch, and the argv words that name them turned into their paths.
Nothing is written anywhere else: names are checked, and every path is resolved inside that folder."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from spark_tui.engines import validate
from spark_tui.errors import UsageError

if TYPE_CHECKING:
    from spark_tui.advisor.types import LaunchPlan

_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def folder(root: Path, name: str) -> Path:
    return root / "files" / validate.server_name(name)


def with_paths(plan: LaunchPlan, where: Path) -> LaunchPlan:
    """The plan with each argv word that names one of its files replaced by that file's path under `where`."""
    paths = {}
    for file_name in plan.files:
        if not _FILE_NAME.match(file_name):
            raise UsageError(f"The launch plan names a file spark-tui will not write: {file_name!r}.")
        paths[file_name] = str(where / file_name)
    return replace(plan, argv=tuple(paths.get(word, word) for word in plan.argv))


def write(root: Path, name: str, plan: LaunchPlan) -> LaunchPlan:
    """Write the plan's files into the server's folder; the plan naming them by path. A plan without files is
    returned as it is (nothing created)."""
    if not plan.files:
        return plan
    from spark_tui.files import write_text_atomic

    where = folder(root, name)
    placed = with_paths(plan, where)
    where.mkdir(parents=True, exist_ok=True)
    for file_name, text in plan.files.items():
        path = (where / file_name).resolve()
        if path.parent != where.resolve():
            raise UsageError(f"The launch plan names a file outside its server's folder: {file_name!r}.")
        write_text_atomic(path, text)
    return placed
