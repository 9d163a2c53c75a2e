"""The speed options: bf16, channels-last, foreach/fused optimisers, fp16 refusal, the benchmark."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import torch

from faceoff.errors import FaceoffError
from faceoff.train.build import Training
from faceoff.train.run import train
from tiny import ROOT, cancelled_biases, tiny_spec

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench

CPU = torch.device("cpu")


def model_and_batches(*extra: str) -> tuple[Training, list[dict]]:
    resolved = tiny_spec(*extra)
    return bench.build(resolved, CPU), bench.make_batches(resolved, 2, seed=7)


def losses(*extra: str, steps: int = 1) -> list[dict[str, float]]:
    model, batches = model_and_batches(*extra)
    return [{k: float(v) for k, v in model.step(b).items()} for b in batches[:steps]]


def test_the_resolved_spec_records_the_speed_options(tmp_path: Path) -> None:
    spec = tiny_spec().to_dict()["train"]
    assert spec["precision"] == "fp32" and spec["channels_last"] is False
    assert spec["compile"] is False and spec["cudnn_benchmark"] is True
    assert spec["fused_optimizer"] is True
    run = tmp_path / "run"
    train(
        tiny_spec("train.max_steps=2", "train.precision=bf16", "train.channels_last=true"),
        run,
        show_progress=False,
    )
    written = json.loads((run / "spec.json").read_text())["train"]
    assert written["precision"] == "bf16" and written["channels_last"] is True


def test_bf16_trains_and_its_losses_are_close_to_fp32s() -> None:
    fp32 = losses(steps=2)
    bf16 = losses("train.precision=bf16", steps=2)
    assert all(torch.isfinite(torch.tensor(list(step.values()))).all() for step in bf16)
    for k, v in fp32[0].items():
        assert bf16[0][k] == pytest.approx(v, rel=3e-2, abs=1e-2), k


def test_compile_in_bf16_gives_the_eager_losses() -> None:
    """``train.compile`` in the precision 'auto' picks here (bf16 on a CPU with native bf16,
    the fastest CPU step measured: inductor's fused C++ kernels around oneDNN's convolutions;
    fp32 elsewhere, where emulated bf16 is nine times slower) computes what the eager step
    computes: the same losses to that precision's rounding, before and after an optimiser
    step."""
    from faceoff.train.precision import choose

    precision = choose("auto", CPU).name
    eager = losses(f"train.precision={precision}", steps=2)
    compiled = losses(f"train.precision={precision}", "train.compile=true", steps=2)
    tolerance = {"bf16": 2e-2, "fp32": 1e-3}[precision]
    for a, b in zip(eager, compiled):
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=tolerance, abs=tolerance / 2), k


def test_channels_last_gives_the_same_losses_as_nchw() -> None:
    nchw = losses(steps=2)
    last = losses("train.channels_last=true", steps=2)
    for a, b in zip(nchw, last):
        for k in a:
            assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-5), k


def test_fused_optimizer_gives_the_same_weights_as_the_plain_one() -> None:
    fast, batches = model_and_batches("train.fused_optimizer=true")
    plain, _ = model_and_batches("train.fused_optimizer=false")
    fast_g, plain_g = fast.engine.optimizers["G"], plain.engine.optimizers["G"]
    assert fast_g.param_groups[0]["fused"]  # Adam: fused kernels on the CPU too
    assert not plain_g.param_groups[0]["fused"] and not plain_g.param_groups[0]["foreach"]
    for batch in batches:
        fast.step(batch)
        plain.step(batch)
    # A convolution's bias right before an instance norm is cancelled by it: its gradient is
    # rounding noise, which Adam normalises into steps of +-lr whose sign depends on the order
    # of the arithmetic. Everything else must agree.
    cancelled = cancelled_biases(plain.objective)
    assert cancelled and len(cancelled) < len(list(plain.objective.named_parameters())) // 2
    a, b = dict(fast.objective.named_parameters()), dict(plain.objective.named_parameters())
    for key in a:
        if key not in cancelled:
            torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_fp16_on_the_cpu_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(FaceoffError, match=r"fp16.*CUDA"):
        train(tiny_spec("train.precision=fp16"), tmp_path / "run", show_progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything was written
    with pytest.raises(FaceoffError, match="fp16"):
        bench.build(tiny_spec("train.precision=fp16"), CPU)


def test_the_speed_options_may_change_on_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_spec("train.max_steps=2"), run, show_progress=False)
    result = train(
        tiny_spec(
            "train.max_steps=4",
            "train.precision=bf16",
            "train.channels_last=true",
            "train.fused_optimizer=false",
        ),
        run,
        resume=True,
        show_progress=False,
    )
    assert result.steps == 4


def test_batched_generator_calls_equal_separate_ones() -> None:
    batched, batches = model_and_batches()
    separate, _ = model_and_batches()
    separate.engine.batch_networks = False
    calls = []
    hook = batched.objective.G_AB.register_forward_hook(lambda *_: calls.append(1))
    a = batched.step(batches[0])
    hook.remove()
    b = separate.step(batches[0])
    assert len(calls) == 2  # A and B (identity) in one call, then the way back of fake A
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_the_benchmarks_plain_step_and_ours_agree() -> None:
    check = bench.compare_losses(tiny_spec(), CPU)
    assert set(check["plain"]) == set(check["ours"])
    assert check["max_rel_diff"] < 1e-4, check


@pytest.mark.parametrize("pad", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("channels_last", [False, True])
def test_our_reflection_padding_equals_torch_s(
    pad: int, dtype: torch.dtype, channels_last: bool
) -> None:
    """Same values forward; backward (our folded gradient) equal to torch's to rounding."""
    from torch import nn

    from faceoff.train.speed import fast_padding

    g = torch.Generator().manual_seed(pad)
    x = torch.randn(2, 3, 9, 7, generator=g).to(dtype)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    stock = nn.Sequential(nn.ReflectionPad2d(pad))
    ours = copy.deepcopy(stock)
    fast_padding(ours)
    assert type(ours[0]) is not nn.ReflectionPad2d
    weights = torch.randn(2, 3, 9 + 2 * pad, 7 + 2 * pad, generator=g).to(dtype)
    results = []
    for net in (ours, stock):
        leaf = x.clone().requires_grad_(True)
        out = net(leaf)
        (out * weights).sum().backward()
        results.append((out.detach(), leaf.grad))
    assert torch.equal(results[0][0], results[1][0])
    tol = {torch.float32: 1e-6, torch.float64: 1e-12, torch.bfloat16: 2e-2}[dtype]
    torch.testing.assert_close(results[0][1], results[1][1], atol=tol * 4, rtol=tol)
    assert results[0][1].abs().sum() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_cuda(precision: str) -> None:
    resolved = tiny_spec("train.device=cuda", f"train.precision={precision}")
    model = bench.build(resolved, torch.device("cuda"))
    assert (model.engine.scaler is not None) == (precision == "fp16")
    assert model.engine.optimizers["G"].param_groups[0].get("fused")
    for batch in bench.make_batches(resolved, 2):
        terms = model.step(batch)
        assert all(torch.isfinite(v) for v in terms.values())


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "chosen"),
    [(False, False, "fp32"), (True, False, "bf16"), (False, True, "bf16")],
)
def test_auto_precision_is_bf16_only_where_the_cpu_has_it(
    monkeypatch: pytest.MonkeyPatch, avx512_bf16: bool, amx: bool, chosen: str
) -> None:
    from faceoff.train.precision import choose

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    picked = choose("auto", CPU)
    assert picked.name == chosen
    assert ("neither" in picked.reason) == (chosen == "fp32")


def test_bf16_without_native_support_warns_once_and_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from faceoff import console

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    lines: list[str] = []
    monkeypatch.setattr(console.console, "print", lambda text, **kw: lines.append(str(text)))
    result = train(tiny_spec("train.max_steps=1", "train.precision=bf16"), tmp_path / "r",
                   show_progress=False)  # fmt: skip
    assert result.steps == 1
    warnings = [line for line in lines if "bf16 would be emulated" in line]
    assert len(warnings) == 1 and "'auto' or 'fp32' trains faster here" in warnings[0]
    (said,) = [line for line in lines if line.startswith("training on cpu")]
    assert "in bf16: as the spec says" in said
    train(tiny_spec("train.max_steps=1", "train.precision=auto"), tmp_path / "a",
          show_progress=False)  # fmt: skip
    assert any("in fp32: auto: the CPU has neither" in line for line in lines)
