"""The NVML probe: a replay of a real H100, simulated DGX Spark (NOT_SUPPORTED / zero total), no driver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spark_tui.errors import UsageError
from spark_tui.hardware import nvml, resolve_hardware
from spark_tui.hardware.host import read_meminfo
from spark_tui.hardware.profiles import GIB, load_profiles
from tests.support import fake_nvml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "nvml"


def test_replayed_h100_probe_matches_what_the_real_gpu_reported():
    facts = resolve_hardware("auto", nvml=fake_nvml.replay(fake_nvml.recorded("h100-probe")))
    real = json.loads((FIXTURES / "h100-hw.json").read_text())  # `spark-tui hw --json` on the real H100
    assert facts.name == real["name"] == "h100"
    assert facts.gpu_name == "NVIDIA H100 80GB HBM3" and facts.compute_capability == "9.0"
    assert facts.unified_memory is False and facts.driver_version == "580.159.04" and facts.cuda_version == "13.0"
    # CUDA's total (torch.cuda.mem_get_info) = NVML total − the driver's reservation.
    record = fake_nvml.recorded("h100-probe")
    assert facts.memory_bytes == real["memory_bytes"] == record["_torch_mem_get_info"]["total"]
    assert facts.memory_used_bytes == 0


def test_h100_profile_memory_is_the_measured_cuda_total():
    record = fake_nvml.recorded("h100-probe")
    assert load_profiles()["h100"].memory_bytes == pytest.approx(record["_torch_mem_get_info"]["total"], rel=1e-4)


def test_memory_in_use_matches_nvidia_smi_while_torch_holds_10_gib():
    ours = json.loads((FIXTURES / "h100-hw-holding-10GiB.json").read_text())
    smi_used_mib = int((FIXTURES / "h100-nvidia-smi-holding-10GiB.txt").read_text().split(",")[1])
    assert ours["memory_used_bytes"] == pytest.approx(smi_used_mib * 1024**2, abs=1024**2)  # smi rounds to MiB


@pytest.mark.parametrize("zero_total", [False, True])
def test_gb10_not_supported_means_unified_memory_from_the_host(zero_total, monkeypatch, tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       127600748 kB\nMemFree:        20000000 kB\n"
                       "MemAvailable:   100000000 kB\nCached:         78000000 kB\n")
    monkeypatch.setattr("spark_tui.hardware.host.read_meminfo", lambda: read_meminfo(str(meminfo)))
    facts = resolve_hardware("auto", nvml=fake_nvml.gb10(total_zero=zero_total))
    assert facts.name == "gb10" and facts.unified_memory is True and facts.compute_capability == "12.1"
    assert facts.memory_bytes == 127600748 * 1024  # never a bogus 0
    assert facts.host_memory_available_bytes == 100000000 * 1024
    assert facts.host_page_cache_bytes == 78000000 * 1024
    assert facts.memory_used_bytes == (127600748 - 100000000) * 1024
    assert facts.bandwidth_gbps == 273


def test_no_driver_is_normal_and_plans_for_gb10():
    assert nvml.probe(fake_nvml.no_driver()) is None
    facts = resolve_hardware("auto", nvml=fake_nvml.no_driver())
    assert facts.name == "gb10" and facts.source == "profile"
    assert "no NVIDIA GPU found" in facts.notes[0]


def test_profiles_cover_the_required_machines():
    profiles = load_profiles()
    for name in ("gb10", "h100", "h200", "b200", "rtx-pro-6000", "rtx-5090", "rtx-4090", "rtx-3090",
                 "a100-80gb", "a100-40gb", "l40s", "a10"):
        assert name in profiles
    assert profiles["gb10"].unified_memory and profiles["gb10"].compute_capability == "12.1"


def test_overrides_and_bad_names():
    facts = resolve_hardware("h100", gpus=4, gpu_memory_gib=40)
    assert facts.gpus == 4 and facts.memory_bytes == 40 * GIB
    with pytest.raises(UsageError, match="Unknown hardware profile 'h10'") as err:
        resolve_hardware("h10")
    assert "h100" in (err.value.hint or "")
    with pytest.raises(UsageError):
        resolve_hardware("h100", gpus=0)
    with pytest.raises(UsageError):
        resolve_hardware("h100", gpu_memory_gib=-3)


def _gb10_with(meminfo_text: str, monkeypatch, tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(meminfo_text)
    monkeypatch.setattr("spark_tui.hardware.host.read_meminfo", lambda: read_meminfo(str(meminfo)))
    return resolve_hardware("auto", nvml=fake_nvml.gb10())


def test_gb10_nearly_full_of_page_cache_warns_with_the_numbers_and_the_drop_caches_fix(monkeypatch, tmp_path):
    from spark_tui.hardware.pressure import DROP_CACHES, memory_pressure

    # 100 GiB "available" looks fine, but only 2 GiB is free: the rest is page cache, which vLLM's check counts.
    facts = _gb10_with("MemTotal: 125000000 kB\nMemFree: 2000000 kB\nMemAvailable: 100000000 kB\n"
                       "Cached: 98000000 kB\n", monkeypatch, tmp_path)
    warning = memory_pressure(facts)
    assert warning is not None and warning.startswith("Memory is 98% in use before launch: 1.9 GiB free, ")
    assert "93.5 GiB of page cache, of 119.2 GiB" in warning and DROP_CACHES in warning
    quiet = _gb10_with("MemTotal: 125000000 kB\nMemFree: 60000000 kB\nMemAvailable: 100000000 kB\n"
                       "Cached: 38000000 kB\n", monkeypatch, tmp_path)
    assert memory_pressure(quiet) is None


def test_gb10_full_of_processes_warns_without_suggesting_to_drop_caches(monkeypatch, tmp_path):
    from spark_tui.hardware.pressure import DROP_CACHES, memory_pressure

    facts = _gb10_with("MemTotal: 125000000 kB\nMemFree: 1500000 kB\nMemAvailable: 2500000 kB\n"
                       "Cached: 1000000 kB\n", monkeypatch, tmp_path)
    warning = memory_pressure(facts)
    assert warning is not None and "99% in use" in warning and DROP_CACHES not in warning


def test_discrete_gpu_nearly_full_warns_and_a_profile_never_does():
    from dataclasses import replace

    from spark_tui.hardware.pressure import memory_pressure

    h100 = resolve_hardware("auto", nvml=fake_nvml.replay(fake_nvml.recorded("h100-probe")))
    assert memory_pressure(h100) is None  # 0 bytes used, as recorded
    full = replace(h100, memory_used_bytes=int(h100.memory_bytes * 0.97))
    assert memory_pressure(full) == ("GPU memory is 97% in use before launch (76.8 of 79.2 GiB): vLLM may refuse "
                                     "to start. See what holds it: spark-tui ps, nvidia-smi.")
    assert memory_pressure(replace(resolve_hardware("gb10"), memory_used_bytes=10**12)) is None
