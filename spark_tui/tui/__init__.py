"""The interactive app. Textual is imported only inside this package."""

from __future__ import annotations

from pathlib import Path


def run_app(hardware: str = "auto", rules: list[Path] | None = None) -> int:
    from spark_tui.services import default_services
    from spark_tui.tui.app import SparkTuiApp

    app = SparkTuiApp(default_services(rules), hardware=hardware)
    app.run()
    return app.return_code or 0
