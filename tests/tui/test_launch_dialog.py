"""The launch dialog says which rule added each setting it is about to run."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Static

from spark_tui.advisor.types import LaunchPlan, RuleSetting
from spark_tui.tui.screens.launch import LaunchScreen


async def test_launch_dialog_names_the_rule_behind_each_added_setting():
    added = (RuleSetting("local-tuning", "env", "VLLM_USE_DEEP_GEMM", "0"),
             RuleSetting("local-tuning", "flag", "--enforce-eager", None))
    plan = LaunchPlan("vllm", ("vllm", "serve", "org/model", "--enforce-eager"), {"VLLM_USE_DEEP_GEMM": "0"},
                      ("added by rule local-tuning: VLLM_USE_DEEP_GEMM=0 --enforce-eager",), added)

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(LaunchScreen(plan))

    async with Host().run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        shown = [str(static.render()) for static in pilot.app.screen.query(Static)]
        assert "(added by rule local-tuning: VLLM_USE_DEEP_GEMM=0 --enforce-eager)" in shown
