"""The app's header says which knowledge (rules set) its verdicts come from."""

from __future__ import annotations

from textual.widgets import Static

from spark_tui.rules.update import update
from tests.integration.test_rules_update import set_files, write_set
from tests.tui.conftest import settle


def header(app) -> str:
    return str(app.screen.query_one("#machine", Static).render())


async def test_header_names_the_builtin_knowledge(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "knowledge 2026-12-02 (builtin)" in header(app)


async def test_header_names_an_installed_update_and_its_rules_are_used(make_app, tmp_path):
    folder = write_set(tmp_path / "set", set_files("2026-12-20"))
    update(str(folder))
    app = make_app()
    assert "update-marker" in {rule.id for rule in app.services.rules.rules}
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(app, pilot)
        assert f"knowledge 2026-12-20 ({folder.resolve()})" in header(app).replace("\n", "")
