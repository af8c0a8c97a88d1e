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


# --- the dialog in the app: verdict, whole command, ports, a failed launch (with a double of the supervisor) ---

from dataclasses import dataclass, field  # noqa: E402

from spark_tui.engines.records import ServerRecord  # noqa: E402
from spark_tui.engines.runtime import VllmRuntime  # noqa: E402
from spark_tui.errors import SparkTuiError  # noqa: E402
from spark_tui.tui.app import SparkTuiApp  # noqa: E402
from tests.tui.conftest import services, vllm_only  # noqa: E402
from tests.tui.test_servers import open_launch_dialog  # noqa: E402
from tests.tui.test_servers_doubles import FakeServers  # noqa: E402


@dataclass
class Launches(FakeServers):
    """Records each launch; the first `failures` launches fail as a taken port would."""

    launched: list = field(default_factory=list)
    failures: int = 0

    def records(self) -> list[ServerRecord]:
        return []

    def launch(self, plan, name=None, runtime=None, api_key=None, prediction=None) -> ServerRecord:
        if self.failures:
            self.failures -= 1
            raise SparkTuiError(f"Port {plan.port} on 127.0.0.1 is already in use.")
        self.launched.append(plan)
        return ServerRecord(name="s", model=plan.model, engine="vllm", argv=list(plan.argv), env={}, pid=1,
                            port=plan.port, host=plan.host, log="", started_at=1.0)


def dialog_app(supervisor, **overrides) -> SparkTuiApp:
    runtime = VllmRuntime("local", "/opt/venv/bin/vllm")
    fixed = {"resolve_runtime": lambda engine: vllm_only(engine, runtime), "runtime_version": lambda r: "0.28.0"}
    return SparkTuiApp(services(supervisor=supervisor, **{**fixed, **overrides}), hardware="gb10")


def shown(app) -> str:
    return "\n".join(str(s.render()) for s in app.screen.query(Static))


async def test_an_incompatible_model_says_why_and_needs_a_second_enter(hub):
    supervisor = Launches()
    app = dialog_app(supervisor)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_launch_dialog(app, pilot, "RedHatAI/Qwen3-VL-235B-A22B-Instruct-NVFP4")
        assert isinstance(app.screen, LaunchScreen)
        blocking = next(f.title for f in app.rows["RedHatAI/Qwen3-VL-235B-A22B-Instruct-NVFP4"].advice.findings
                        if f.severity == "error")
        text = shown(app)
        assert "INCOMPATIBLE here" in text and blocking[:40] in text.replace("\n", "")
        assert "runs: /opt/venv/bin/vllm (vLLM 0.28.0)" in text
        command = app.screen.query_one("#launch-command").value
        assert command in text.replace("\n", "")  # the whole command, wrapped, not its last 80 characters
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, LaunchScreen) and supervisor.launched == []
        assert "Press Enter again" in shown(app)
        await pilot.press("enter")
        for _ in range(40):
            await pilot.pause(0.05)
            if supervisor.launched:
                break
        assert [p.model for p in supervisor.launched] == ["RedHatAI/Qwen3-VL-235B-A22B-Instruct-NVFP4"]


async def test_a_taken_port_is_replaced_and_a_failed_launch_comes_back_with_the_edit(hub):
    supervisor = Launches(failures=1)
    app = dialog_app(supervisor, port_is_free=lambda host, port: port != 8000)  # 8000 taken on this "machine"
    async with app.run_test(size=(120, 40)) as pilot:
        await open_launch_dialog(app, pilot, "RedHatAI/Qwen3-8B-NVFP4")
        field_ = app.screen.query_one("#launch-command")
        assert "--port 8001" in field_.value and "Port 8000 is in use here: proposing 8001." in shown(app)
        field_.value = field_.value.replace("--host", "--enforce-eager --host")  # the user's edit
        await pilot.press("enter")
        for _ in range(60):  # the launch fails in its worker; the dialog comes back with the edit and the reason
            await pilot.pause(0.05)
            if isinstance(app.screen, LaunchScreen) and "Not launched" in shown(app):
                break
        assert isinstance(app.screen, LaunchScreen)
        assert "--enforce-eager" in app.screen.query_one("#launch-command").value
        assert "Not launched: Port 8001 on 127.0.0.1 is already in use." in shown(app)
        await pilot.press("enter")
        for _ in range(40):
            await pilot.pause(0.05)
            if supervisor.launched:
                break
        [plan] = supervisor.launched
        assert plan.port == 8001 and "--enforce-eager" in plan.argv


async def test_a_port_taken_while_editing_is_said_before_enter(hub):
    supervisor = Launches()
    app = dialog_app(supervisor, port_is_free=lambda host, port: port not in (8000, 9999))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_launch_dialog(app, pilot, "RedHatAI/Qwen3-8B-NVFP4")
        field_ = app.screen.query_one("#launch-command")
        field_.value = field_.value.replace("--port 8001", "--port 9999")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, LaunchScreen) and supervisor.launched == []
        assert "Port 9999 on 127.0.0.1 is in use" in shown(app)


async def test_the_engine_switch_launches_with_the_chosen_engine(hub):
    # e switches the engine: the dialog shows that engine's command and what runs it (or why nothing can), and Enter
    # launches the plan with the runtime resolved for that engine.
    supervisor = Launches()
    asked: list[str] = []
    llama = VllmRuntime("container", "/usr/bin/docker", "ghcr.io/ggml-org/llama.cpp:server-cuda13",
                        engine="llamacpp")

    def resolve(engine: str):
        asked.append(engine)
        if engine == "trtllm":
            raise SparkTuiError("No trtllm-serve found: no `trtllm-serve` on PATH and no docker for a container.")
        return llama if engine == "llamacpp" else VllmRuntime("local", "/opt/venv/bin/vllm")

    app = dialog_app(supervisor, resolve_runtime=resolve, runtime_version=lambda r: "6931" if r.engine == "llamacpp"
                     else "0.28.0")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle_runtimes(app, pilot)
        app.set_engine("trtllm")
        await open_launch_dialog(app, pilot, "RedHatAI/Qwen3-8B-NVFP4")
        assert isinstance(app.screen, LaunchScreen)
        assert app.screen.query_one("#launch-command").value.startswith("trtllm-serve RedHatAI/Qwen3-8B-NVFP4")
        assert "No trtllm-serve found" in shown(app)  # before Enter
        await pilot.press("escape", "escape")
        app.set_engine("llamacpp")
        await open_launch_dialog(app, pilot, "RedHatAI/Qwen3-8B-NVFP4")
        assert app.screen.query_one("#launch-command").value.startswith("llama-server ")
        assert "runs: ghcr.io/ggml-org/llama.cpp:server-cuda13 (docker) (llama-server 6931)" in shown(app)
        await pilot.press("enter", "enter")  # (safetensors on llama.cpp: incompatible, so a second Enter)
        for _ in range(40):
            await pilot.pause(0.05)
            if supervisor.launched:
                break
        assert [p.engine for p in supervisor.launched] == ["llamacpp"] and asked[-1] == "llamacpp", shown(app)


async def settle_runtimes(app, pilot) -> None:
    for _ in range(100):
        await pilot.pause(0.02)
        if len(app.runtime_labels) + len(app.runtime_missing) == 3:
            return
