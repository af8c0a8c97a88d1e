"""The app driven with Textual's Pilot against the Hub emulator, asserting on what the user sees."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Static

from spark_tui.errors import HubUnavailableError, ModelNotFoundError
from spark_tui.hardware import resolve_hardware
from spark_tui.rules.model import LoadResult
from spark_tui.tui.screens.model import ModelScreen
from spark_tui.tui.screens.rules import RulesScreen
from tests.tui.conftest import select_row, services, settle


def table_rows(app) -> dict[str, list]:
    table = app.screen.query_one("#models", DataTable)
    return {str(key.value): [str(c) for c in table.get_row(key)] for key in table.rows}


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def open_model(app, pilot, model: str) -> None:
    await select_row(app, pilot, model)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, ModelScreen)


async def test_catalog_rows_fill_in_with_verdicts(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        rows = table_rows(app)
        assert rows["RedHatAI/Qwen3-30B-A3B-NVFP4"][1] == "CAUTION"
        assert rows["RedHatAI/Qwen3-8B-NVFP4"][1] == "OK"
        assert rows["nvidia/DeepSeek-R1-NVFP4"][1] == "INCOMPATIBLE"
        params = app.screen.query_one("#models", DataTable).get_cell("RedHatAI/Qwen3-30B-A3B-NVFP4", "params")
        assert params == "30.5B/3.4B"
        header = text_of(app, "#machine")
        assert "Planning for gb10" in header and "CC 12.1" in header and "unified 119.6 GiB" in header


async def test_search_find_and_read_why_it_is_a_caution(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash")
        await pilot.press(*"Nemotron")
        await pilot.press("enter")
        await settle(app, pilot)
        rows = table_rows(app)
        # vLLM 0.28 no longer refuses non-gated compressed-tensors NVFP4 (removed in 0.16): a caution
        assert rows["Firworks/NVIDIA-Nemotron-3-Nano-30B-A3B-nvfp4"][1] == "CAUTION"
        assert app.rows["Firworks/NVIDIA-Nemotron-3-Nano-30B-A3B-nvfp4"].origin == "search"
        await pilot.press("escape")  # clears the search: the whole catalog again
        await open_model(app, pilot, "RedHatAI/Qwen3-30B-A3B-NVFP4")
        findings = " ".join(text_of(app, "#findings").split())
        assert "#31782 does not apply" in findings and "https://github.com/vllm-project/vllm/issues/31782" in findings


async def test_search_narrows_the_table_enter_goes_to_the_first_match_esc_clears(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        catalog = list(table_rows(app))
        await pilot.press("slash", *"qwen3 8b")  # every word must match, case ignored; narrowed as you type
        await pilot.pause()
        narrowed = list(table_rows(app))
        assert narrowed and len(narrowed) < len(catalog)
        assert all("qwen3" in m.lower() and "8b" in m.lower() for m in narrowed), narrowed
        table = app.screen.query_one("#models", DataTable)
        cell = table.get_cell(narrowed[0], "model")
        assert any("reverse" in str(span.style) for span in cell.spans)  # the match is highlighted
        await settle(app, pilot)  # the Hub's answer for the query joins the matches, not the bottom of the table
        assert all(("qwen3" in m.lower() and "8b" in m.lower()) or m in app.search_hits.get("qwen3 8b", ())
                   for m in table_rows(app))
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.focused is table and table.cursor_row == 0
        await pilot.press("escape")
        await pilot.pause()
        assert list(table_rows(app)) == catalog and app.screen.query_one("#search").value == ""


async def test_j_k_g_and_G_move_like_every_terminal_tool(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#models", DataTable)
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1


async def test_change_max_model_len_and_utilization_updates_memory_and_verdict(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await open_model(app, pilot, "RedHatAI/Qwen3-30B-A3B-NVFP4")
        before = text_of(app, "#memory")
        assert "fits" in before and "0.85 ×" in before
        await pilot.press("l")
        await pilot.press(*"16384", "enter")
        await pilot.pause()
        after = text_of(app, "#memory")
        assert "max-model-len 16,384" in after and after != before  # the one-request segment shrank too
        await pilot.press("u")
        await pilot.press(*"0.2", "enter")
        await pilot.pause()
        assert "0.2 ×" in text_of(app, "#memory")
        await pilot.press("l", "ctrl+a", "ctrl+k")
        await pilot.press(*"40960", "enter")
        await pilot.pause()
        assert "does not fit" in text_of(app, "#memory")
        assert "INCOMPATIBLE" in text_of(app, "#title")
        assert "--max-model-len 40960" in text_of(app, "#launch")
        await pilot.press("l", "ctrl+a", "ctrl+k")
        await pilot.press(*"999999", "enter")
        await pilot.pause()
        assert "between 1 and 40,960" in text_of(app, "#knob-error")


async def test_an_invalid_max_model_len_never_reaches_the_plan_or_the_command(make_app):
    # Typing 131072 for a 40960-token model passed through 13107 (valid): the plan and the copied command kept it.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await open_model(app, pilot, "RedHatAI/Qwen3-8B-NVFP4")
        before = text_of(app, "#launch")
        await pilot.press("l", *"131072")
        await pilot.pause()
        assert "between 1 and 40,960" in text_of(app, "#knob-error")
        assert text_of(app, "#launch") == before and "13107" not in text_of(app, "#launch")
        assert "13107" not in app.rows["RedHatAI/Qwen3-8B-NVFP4"].advice.launch.command_line()
        await pilot.press("enter", "escape")  # Enter keeps an invalid value in the field; Esc leaves the field
        await pilot.press("c")
        await pilot.pause()
        assert "13107" not in (app.clipboard or "")  # copy refuses while the field is invalid
        await pilot.press("L")
        await pilot.pause()
        assert type(app.screen).__name__ == "ModelScreen"  # no launch dialog either
        await pilot.press("l", "end", "backspace")  # 13107: valid again, the plan follows
        await pilot.pause()
        assert "--max-model-len 13107" in text_of(app, "#launch") and text_of(app, "#knob-error") == ""


async def test_copy_launch_command_through_osc52(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await open_model(app, pilot, "RedHatAI/Qwen3-8B-NVFP4")
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard.startswith("vllm serve RedHatAI/Qwen3-8B-NVFP4 --host 127.0.0.1")
        assert "--gpu-memory-utilization 0.85" in app.clipboard


async def test_rules_screen_filters_and_shows_affected_models(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, RulesScreen)
        table = app.screen.query_one("#rules", DataTable)
        total = table.row_count
        await pilot.press("e")  # engine: vllm
        await pilot.pause()
        assert 0 < table.row_count < total
        ids = [str(k.value) for k in table.rows]
        assert "trtllm-gb10-memory-oom" not in ids and "vllm-ct-nvfp4-moe-gated" in ids
        table.move_cursor(row=ids.index("vllm-ct-nvfp4-moe-gated"))
        await pilot.pause()
        detail = " ".join(text_of(app, "#rule-detail").split())
        assert "RedHatAI/Qwen3-30B-A3B-NVFP4" in detail
        assert "https://github.com/vllm-project/vllm/issues/31782" in detail
        await pilot.press("escape")
        assert not isinstance(app.screen, RulesScreen)


async def test_switch_hardware_profile(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert table_rows(app)["RedHatAI/Qwen3-8B-NVFP4"][1] == "OK"
        await pilot.press("h")
        await pilot.pause()
        # The list opens on the current choice (gb10); then two and three Sparks joined; then h100.
        await pilot.press("down", "down", "down", "enter")
        await pilot.pause()
        assert "Planning for h100" in text_of(app, "#machine")
        assert table_rows(app)["RedHatAI/Qwen3-8B-NVFP4"][1] == "CAUTION"  # Marlin fallback on Hopper


async def test_probed_machine_is_shown(make_app):
    probe = resolve_hardware("h100")
    import dataclasses

    probe = dataclasses.replace(probe, source="probe", gpu_name="NVIDIA H100 80GB HBM3", driver_version="580.159.04",
                                cuda_version="13.0", memory_used_bytes=11 * 1024**3)
    app = make_app(hardware="auto", probe_hardware=lambda: probe)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        header = text_of(app, "#machine")
        assert "1× NVIDIA H100 80GB HBM3" in header and "11.0/79.2 GiB" in header and "driver 580.159.04" in header


async def test_no_gpu_auto_plans_for_gb10_and_says_so(make_app):
    app = make_app(hardware="auto")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        header = text_of(app, "#machine")
        assert "Planning for gb10" in header and "no NVIDIA GPU here" in header


async def test_hub_unreachable_shows_cache_with_offline_marker(make_app, hub):
    # Fill the cache once, then open the app with a Hub that cannot be reached.
    from spark_tui.hub import load_model_facts

    load_model_facts("RedHatAI/Qwen3-8B-NVFP4")

    def unreachable(model: str):
        raise HubUnavailableError(f"Cannot reach the Hub (ConnectError) and {model} is not cached.")

    app = make_app(load_facts=unreachable)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "OFFLINE" in text_of(app, "#machine")
        rows = table_rows(app)
        assert rows["RedHatAI/Qwen3-8B-NVFP4"][1] == "OK"  # from the cache
        assert rows["RedHatAI/Qwen3-32B-NVFP4"][1] == "⚠ error"  # never cached: says why below
        await select_row(app, pilot, "RedHatAI/Qwen3-32B-NVFP4")
        assert "Cannot reach the Hub" in text_of(app, "#summary")


async def test_gated_row_says_how_to_get_access(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"Llama-3.1-8B", "enter")
        await settle(app, pilot)
        assert table_rows(app)["meta-llama/Llama-3.1-8B"][1] == "⚠ gated"
        await select_row(app, pilot, "meta-llama/Llama-3.1-8B")
        assert "Request access at" in text_of(app, "#summary")


async def test_repo_that_disappears_after_listing(make_app, hub):
    def gone(model: str):
        raise ModelNotFoundError(f"No model '{model}' on the Hub.", "Check the id.")

    app = make_app(load_facts=gone, cached_facts=lambda model: None)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"gpt-oss", "enter")
        await settle(app, pilot)
        assert table_rows(app)["openai/gpt-oss-20b"][1] == "⚠ not found"


async def test_search_with_no_results_and_search_failure(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"zzzz-nothing", "enter")
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert any("No models match 'zzzz-nothing'" in n.message for n in app._notifications)

    def failing(query: str):
        raise HubUnavailableError("Search failed: cannot reach the Hub (ConnectError).")

    app = make_app(search=failing)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"qwen", "enter")
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "OFFLINE" in text_of(app, "#machine")


async def test_filters_and_sort(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("f", "f")  # all → NVFP4 → MXFP4
        assert set(table_rows(app)) == {"openai/gpt-oss-20b", "openai/gpt-oss-120b"}
        await pilot.press("f", "f", "f", "f", "f", "f")  # back to all
        await pilot.press("z")  # fits only
        assert "nvidia/DeepSeek-R1-NVFP4" not in table_rows(app)
        await pilot.press("z", "v")  # verdict ok
        assert all(cells[1] == "OK" for cells in table_rows(app).values())
        await pilot.press("v", "v", "v", "v", "s", "s")  # verdict all; sort by size: largest first
        sizes = list(table_rows(app))
        assert sizes[0] in ("nvidia/DeepSeek-R1-NVFP4", "nvidia/DeepSeek-V3.2-NVFP4"), sizes
        table = app.screen.query_one("#models", DataTable)
        assert "Size ▼" in [str(c.label) for c in table.columns.values()] and "by size ▼" in text_of(app, "#filters")


async def test_broken_user_rules_file_is_shown(make_app, tmp_path):
    problem = f"{tmp_path}/mine.toml:3: TOML syntax error: Expected '=' after a key in a key/value pair"
    app = make_app(rules=LoadResult(rules=services().rules.rules, problems=[problem]))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert any("mine.toml:3" in n.message for n in app._notifications)


async def test_small_terminal_and_resize_do_not_break(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        await open_model(app, pilot, "RedHatAI/Qwen3-8B-NVFP4")
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert isinstance(app.screen, ModelScreen)


async def test_ctrl_c_quits_cleanly(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_code in (0, None)


@pytest.mark.parametrize("key", ["q"])
async def test_quit_key(make_app, key):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(key)
        await pilot.pause()
    assert not app.is_running


async def test_input_focus_does_not_swallow_typing_into_filters(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"fz")  # typed into the search box, not taken as filter keys
        assert app.screen.query_one("#search", Input).value == "fz"
        assert app.screen.quant_filter == "all" and app.screen.fits_only is False


async def test_a_redraw_that_lands_after_quitting_is_harmless(make_app):
    # Seen in CI: a coalesced redraw queued by a worker ran after the screens were gone (ScreenStackError).
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
    assert not app.screen_stack
    app._refresh_now()  # must be a no-op, not an exception


async def test_question_mark_lists_every_key_of_the_screen_and_esc_closes_it(make_app):
    from spark_tui.tui.screens.help import HelpScreen

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = str(app.screen.query_one("#help-keys").render())
        for key, what in (("/", "Search"), ("f", "Quant"), ("z", "Fits"), ("v", "Verdict"), ("r", "Rules"),
                          ("S", "Servers"), ("q", "Quit")):  # hidden from the footer or not
            assert any(key in line.split("  ")[0].split(", ") and what in line for line in keys.splitlines()), key
        assert "First row" in keys and "Last row" in keys
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "MainScreen"


async def test_the_command_palette_offers_the_apps_actions(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Search the Hub", "Filter by quantization", "Switch engine", "Pick hardware", "Servers",
                      "Downloads", "Rules"):
            assert title in titles
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Only models that fit")
        command.callback()
        await pilot.pause()
        assert app.screen.fits_only


async def test_the_detail_says_why_before_the_memory_bar(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await open_model(app, pilot, "nvidia/DeepSeek-R1-NVFP4")
        advice = app.rows["nvidia/DeepSeek-R1-NVFP4"].advice
        reason = next(f.title for f in advice.findings if f.severity == "error")
        title = " ".join(text_of(app, "#title").split())
        assert "INCOMPATIBLE" in title and f"why: {' '.join(reason.split())}" in title


async def test_two_sparks_from_the_hardware_picker_plan_vllm_across_nodes(make_app):
    # h lists "gb10 ×2": the verdicts and the detail's command become vLLM's multi-node plan over CX-7.
    from tests.tui.conftest import select_row, settle

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("h")
        await pilot.pause()
        options = app.screen.query_one("#hardware-list")
        options.highlighted = options.get_option_index("gb10*2")
        await pilot.press("enter")
        await pilot.pause()
        assert app.hardware.nodes == 2
        row = app.rows["nvidia/Llama-3.3-70B-Instruct-NVFP4"]
        launch = row.advice.launch
        assert [n.role for n in launch.nodes] == ["worker", "server"]
        assert "--tensor-parallel-size" in launch.nodes[-1].argv and "--nnodes" in launch.nodes[-1].argv
        await select_row(app, pilot, "nvidia/Llama-3.3-70B-Instruct-NVFP4")
        assert "2 nodes over 25 GB/s" in str(app.screen.query_one("#machine").render())


async def test_a_model_one_spark_cannot_hold_says_how_many_would(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        from tests.tui.conftest import select_row, settle

        await settle(app, pilot)
        await select_row(app, pilot, "nvidia/Llama-3.1-405B-Instruct-NVFP4")
        await pilot.press("enter")
        await pilot.pause()
        shown = "\n".join(str(s.render()) for s in app.screen.query("Static"))
        assert "Fits on 3 × gb10 with vLLM's multi-node engine (h: gb10 ×3)" in shown


async def test_the_detail_names_the_knobs_as_the_engine_does(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        from tests.tui.conftest import select_row, settle

        await settle(app, pilot)
        await select_row(app, pilot, "ggml-org/gpt-oss-20b-GGUF")
        await pilot.press("enter")
        await pilot.pause()
        label = lambda: str(app.screen.query_one("#len-label").render()).strip()  # noqa: E731
        assert label() == "max-model-len"
        app.set_engine("llamacpp")
        await pilot.pause()
        assert label() == "context (-c)"
        assert "-c 131072" in str(app.screen.query_one("#launch").render())
