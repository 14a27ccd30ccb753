"""Every benchmark runs end to end at its `--quick` sizes and writes a complete JSON record;
`benchmarks.run_all` runs them under both ISA settings and sets the ISA caps it promises."""

import importlib
import importlib.util
import json
import math

import pytest

from benchmarks import common, run_all

HAS_TORCH = importlib.util.find_spec("torch") is not None


def expected_figures(record: dict) -> set[str]:
    """The figure names a benchmark's record must hold, from its own settings."""
    name, settings = record["benchmark"], record["settings"]
    if name == "vae_step":
        return {"fraction_of_peak"} | ({"jax_over_torch"} if HAS_TORCH else set())
    if name == "gan_unrolled":
        torch = {f"torch_over_jax_k{k}" for k in settings["ks"]} if HAS_TORCH else set()
        split = {"vmap_devices_over_sequential"} if record["raw"]["device_count"] > 1 else set()
        return torch | split | {f"compile_s_k{max(settings['ks'])}", "vmap_over_sequential"}
    if name == "gan_memory":
        return {f"{way}_{what}" for way in ("loop", "scan", "loop_remat", "scan_remat")
                for what in ("bytes_per_k", "r2")}  # fmt: skip
    if name == "lstm_step":
        return {"torch_over_default", "torch_over_best"} if HAS_TORCH else set()
    if name == "train_loop_overhead":
        return {"genjax_over_bare", "logged_over_bare"}
    raise AssertionError(f"unknown benchmark {name}")


def check_record(record: dict) -> None:
    assert set(record["figures"]) == expected_figures(record)
    assert set(record["meaning"]) == set(record["figures"])
    for name, value in record["figures"].items():
        assert isinstance(value, float) and math.isfinite(value), name
        assert value > 0 or name.endswith("_r2"), (name, value)
    env = record["environment"]
    assert env["cpu"]["model"] and env["packages"]["jax"] and env["packages"]["jaxlib"]
    assert set(env["isa_env"]) == set(common.ISA_ENV)
    assert set(env["thread_env"]) == set(common.THREAD_ENV)
    if HAS_TORCH:
        assert env["torch"]["num_threads"] >= 1 and env["torch"]["cpu_capability"]
    assert len(record["load_average"]["start"]) == 3 and record["wall_s"] > 0
    assert record["settings"]["quick"] is True


@pytest.mark.parametrize("bench", run_all.BENCHMARKS)
def test_benchmark_quick_writes_its_figures(bench, tmp_path):
    module = importlib.import_module(f"benchmarks.{bench}")
    path = tmp_path / "out" / f"{bench}.json"
    returned = module.main(["--quick", "--json", str(path)])
    record = json.loads(path.read_text())
    assert record["figures"] == returned["figures"]
    check_record(record)
    if bench == "gan_memory":
        for way in ("loop", "scan", "loop_remat", "scan_remat"):
            assert 0 < record["figures"][f"{way}_r2"] <= 1
        assert record["raw"]["backend_level_check"]["equal"]


def test_run_all_runs_both_isa_settings(tmp_path):
    code = run_all.main(["--out", str(tmp_path), "--quick", "--isa", "both",
                         "--benchmarks", "train_loop_overhead"])  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["isa_settings"] == ["default", "avx2"]
    for isa in ("default", "avx2"):
        entry = summary["benchmarks"]["train_loop_overhead"][isa]
        assert entry["rc"] == 0
        record = json.loads((tmp_path / isa / "train_loop_overhead.json").read_text())
        check_record(record)
        assert (tmp_path / isa / "train_loop_overhead.txt").read_text()
        isa_env = record["environment"]["isa_env"]
        capped = "--xla_cpu_max_isa=AVX2" in (isa_env["XLA_FLAGS"] or "")
        assert capped == (isa == "avx2")
        assert (isa_env["ATEN_CPU_CAPABILITY"] == "avx2") == (isa == "avx2")


def test_isa_environment_sets_and_clears_the_caps():
    base = {"XLA_FLAGS": "--xla_cpu_max_isa=SSE4_2 --xla_force_host_platform_device_count=2",
            "ONEDNN_MAX_CPU_ISA": "SSE41", "DNNL_MAX_CPU_ISA": "SSE41", "HOME": "/h"}  # fmt: skip
    default = run_all.isa_environment("default", base)
    assert default["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2"
    assert not {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"} & set(default)
    assert default["HOME"] == "/h"
    avx2 = run_all.isa_environment("avx2", base)
    assert avx2["XLA_FLAGS"].split() == [
        "--xla_force_host_platform_device_count=2", "--xla_cpu_max_isa=AVX2"
    ]  # fmt: skip
    assert avx2["ATEN_CPU_CAPABILITY"] == "avx2"
    assert avx2["ONEDNN_MAX_CPU_ISA"] == avx2["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"
    assert "XLA_FLAGS" not in run_all.isa_environment("default", {"XLA_FLAGS": ""})
    with pytest.raises(ValueError, match="isa must be"):
        run_all.isa_environment("avx512")


def test_line_fit_and_recorder_checks():
    fit = common.line_fit([0, 1, 2, 5], [3.0, 5.0, 7.0, 13.0])
    assert fit["slope"] == pytest.approx(2.0) and fit["intercept"] == pytest.approx(3.0)
    assert fit["r2"] == pytest.approx(1.0)
    assert common.line_fit([0, 1, 2], [0.0, 1.0, 0.0])["r2"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="two distinct"):
        common.line_fit([1, 1], [0.0, 1.0])
    rec = common.Recorder("x", {})
    with pytest.raises(ValueError, match="not finite"):
        rec.figure("bad", float("nan"), "")


@pytest.mark.parametrize(
    "module, argv, message",
    [
        ("run_all", ["--out", "o", "--benchmarks", "nope"], "--benchmarks must name"),
        ("run_all", ["--out", "o", "--isa", "sse"], "invalid choice"),
        ("vae_step", ["--repeats", "0"], "--repeats must be >= 1"),
        ("gan_unrolled", ["--ks", "1,x"], "--ks must be comma-separated"),
        ("gan_memory", ["--ks", "0,20", "--loop-max-k", "5"], "two values"),
        ("lstm_step", ["--torch-threads", "-1"], "--torch-threads must be >= 0"),
    ],
)
def test_bad_arguments_fail_before_any_work(module, argv, message, capsys):
    main = importlib.import_module(f"benchmarks.{module}").main
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err


def test_json_path_must_not_be_a_folder(tmp_path, capsys):
    from benchmarks import train_loop_overhead

    with pytest.raises(SystemExit):
        train_loop_overhead.main(["--quick", "--json", str(tmp_path)])
    assert "--json must name a file" in capsys.readouterr().err
