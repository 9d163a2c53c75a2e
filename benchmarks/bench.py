"""Seconds per CycleGAN training step, side by side with a plain reference-style step.

    python benchmarks/bench.py                         # small (64 px) and paper (256 px) sizes
    python benchmarks/bench.py --config small --precision fp32,bf16 --steps 20 --json out.json
    python benchmarks/bench.py --spec my.json --set train.batch_size=2

Per configuration and precision: median seconds per step (after warm-up), images per second,
peak memory, FLOPs per step (``torch.utils.flop_counter``) and the achieved GFLOP/s next to the
machine's measured 2048x2048 matmul and 3x3-convolution rates. Every figure is also given as a
ratio to a plain fp32 step in the reference's style (same networks, NCHW, no fusion, the
reference's order), timed in the same process; the plain step's losses are checked against ours.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from faceoff.devices import pick_device
from faceoff.frames import to_float
from faceoff.plugins import get_registry
from faceoff.spec import ResolvedSpec, load_spec
from faceoff.train.build import Training, build_training

ROOT = Path(__file__).resolve().parents[1]
CONFIGS: dict[str, tuple[Path, list[str]]] = {
    # the networks of the quickstart the stored figures were measured on: 64 px, ResNet-6 ngf 16,
    # 3-layer D ndf 16, batch 4 (the quickstart's D has 2 layers since issue 14)
    "small": (ROOT / "examples" / "quickstart.json", ["discriminator.params.n_layers=3"]),
    # the paper's: 256 px, ResNet-9 ngf 64, 3-layer D ndf 64, batch 1
    "paper": (ROOT / "examples" / "paper" / "baseline.json", []),
}
# the benchmark makes its own batches: keep the data source small so nothing is rendered
QUIET_DATA = ["data.source.params.frames=2", "data.source.params.test_frames=1"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device, repeat: int) -> float:
    """Median seconds of ``fn`` over ``repeat`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine_rates(device: torch.device, repeat: int = 5) -> dict[str, float]:
    """GFLOP/s of a 2048x2048 matmul (fp32 and bf16) and a 3x3 convolution (256 channels,
    64x64, fp32 - a ResNet block of the paper's generator)."""
    n = 2048
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    mm = 2 * n**3 / _timed(lambda: a @ b, device, repeat) / 1e9
    a16, b16 = a.bfloat16(), b.bfloat16()
    mm16 = 2 * n**3 / _timed(lambda: a16 @ b16, device, repeat) / 1e9
    x = torch.randn(1, 256, 64, 64, device=device)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).to(device)
    with torch.no_grad():
        seconds = _timed(lambda: conv(x), device, repeat)
    conv_flops = 2 * 256 * 256 * 9 * 64 * 64
    return {
        "matmul_fp32_gflops": round(mm, 1),
        "matmul_bf16_gflops": round(mm16, 1),
        "conv3x3_fp32_gflops": round(conv_flops / seconds / 1e9, 1),
    }


def make_batches(resolved: ResolvedSpec, count: int = 4, seed: int = 0) -> list[dict]:
    """Random uint8 batches of the spec's batch and crop size (no data loading in the timing)."""
    spec = resolved.spec
    g = torch.Generator().manual_seed(seed)
    shape = (spec.train.batch_size, 3, spec.data.crop_size, spec.data.crop_size)
    return [
        {
            "A": torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
            "B": torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
        }
        for _ in range(count)
    ]


STOCK = (nn.InstanceNorm2d, nn.ReflectionPad2d, nn.ReplicationPad2d)


def reference_layers(model: nn.Module) -> nn.Module:
    """``model`` with torch's own instance norm and padding layers where ours (group norm,
    folded reflection backward, padding in the input's dtype) are, as in the reference. Ours
    only subclass them without state of their own, so the class is simply set back."""
    for module in model.modules():
        for stock in STOCK:
            if isinstance(module, stock) and type(module) is not stock:
                module.__class__ = stock
    return model


class PlainStep:
    """The reference's training step, written plainly: the same networks and losses, NCHW fp32,
    per-tensor Adam, forward G_A, G_B, backward G (identity, GAN, cycle), step, then D_A and D_B
    backward, step. No image pool (it does not change the cost)."""

    def __init__(self, model: nn.Module, spec: Any, device: torch.device) -> None:
        self.m = reference_layers(model)
        self.device = device
        opt = spec.optimizer
        gens = [*model.G_AB.parameters(), *model.G_BA.parameters()]
        discs = [*model.D_A.parameters(), *model.D_B.parameters()]
        self.opt_G = torch.optim.Adam(gens, lr=opt.lr, betas=(opt.beta1, opt.beta2), foreach=False)
        self.opt_D = torch.optim.Adam(discs, lr=opt.lr, betas=(opt.beta1, opt.beta2), foreach=False)

    def _rec(self, out: torch.Tensor, target: torch.Tensor, scale: float) -> torch.Tensor:
        m = self.m
        return sum(w * scale * loss(out, target) for w, loss in zip(m.cycle_weights, m.cycle))

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        m, adv = self.m, self.m.adversarial
        real_A = to_float(batch["A"].to(self.device))
        real_B = to_float(batch["B"].to(self.device))
        fake_B = m.G_AB(real_A)
        rec_A = m.G_BA(fake_B)
        fake_A = m.G_BA(real_B)
        rec_B = m.G_AB(fake_A)
        for p in [*m.D_A.parameters(), *m.D_B.parameters()]:
            p.requires_grad_(False)
        self.opt_G.zero_grad()
        t: dict[str, torch.Tensor] = {}
        if m.identity > 0:
            t["idt_B"] = self._rec(m.G_AB(real_B), real_B, m.identity)
            t["idt_A"] = self._rec(m.G_BA(real_A), real_A, m.identity)
        t["G_AB"] = adv.generator_loss(m.D_B(fake_B))
        t["G_BA"] = adv.generator_loss(m.D_A(fake_A))
        t["cycle_A"] = self._rec(rec_A, real_A, 1.0)
        t["cycle_B"] = self._rec(rec_B, real_B, 1.0)
        loss_G = sum(t.values())
        loss_G.backward()
        self.opt_G.step()
        t["G"] = loss_G
        for p in [*m.D_A.parameters(), *m.D_B.parameters()]:
            p.requires_grad_(True)
        self.opt_D.zero_grad()
        fb, fa = fake_B.detach(), fake_A.detach()
        t["D_B"] = adv.discriminator_loss(m.D_B(real_B), m.D_B(fb))
        t["D_B"].backward()
        t["D_A"] = adv.discriminator_loss(m.D_A(real_A), m.D_A(fa))
        t["D_A"].backward()
        self.opt_D.step()
        return {k: v.detach() for k, v in t.items()}


def build(resolved: ResolvedSpec, device: torch.device, precision: str | None = None) -> Training:
    """The spec's objective and engine (``.step(batch)`` trains), seeded as a run is."""
    torch.manual_seed(resolved.spec.train.seed)
    return build_training(resolved, device, precision=precision)


def compare_losses(resolved: ResolvedSpec, device: torch.device) -> dict[str, Any]:
    """Our fp32 step and the plain step from the same weights on the same batch: the losses.

    TF32 is off meanwhile: with it (PyTorch's default for CUDA convolutions, and what the timed
    fp32 steps use) two orders of the same sums differ by ~1e-4 on CUDA."""
    ours = build(resolved, device, precision="fp32")  # the plain step is fp32
    plain = PlainStep(copy.deepcopy(ours.objective), resolved.spec, device)
    batch = make_batches(resolved, 1, seed=123)[0]
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        a = {k: float(v) for k, v in ours.step(batch).items()}
        b = {k: float(v) for k, v in plain(batch).items()}
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    worst = max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-6) for k in b)
    return {"ours": a, "plain": b, "max_rel_diff": worst}


def _peak_reset(device: torch.device) -> int:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _peak_mb(device: torch.device, before: int) -> dict[str, float]:
    if device.type == "cuda":
        return {"peak_mem_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)}
    now = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # process-wide peak RSS; the delta is what this configuration added to the previous peak
    delta = round((now - before) / 1024, 1)
    return {"peak_rss_mb": round(now / 1024, 1), "peak_rss_delta_mb": delta}


def time_interleaved(
    steps_fns: list[Callable[[dict], Any]],
    batches: list[dict],
    device: torch.device,
    steps: int,
    warmup: int,
) -> list[float]:
    """Median seconds per step of each stepper, their steps taken in turn (so a slow moment of
    the machine hits them all alike)."""
    for fn in steps_fns:
        for i in range(warmup):
            fn(batches[i % len(batches)])
    times: list[list[float]] = [[] for _ in steps_fns]
    for i in range(steps):
        for fn, out in zip(steps_fns, times):
            _sync(device)
            start = time.perf_counter()
            terms = fn(batches[i % len(batches)])
            float(terms["G"])  # the loop reads the losses every step: include that sync
            _sync(device)
            out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def peak_memory(fn: Callable[[dict], Any], batch: dict, device: torch.device) -> dict[str, float]:
    before = _peak_reset(device)
    fn(batch)
    _sync(device)
    return _peak_mb(device, before)


def count_flops(step: Callable[[dict], Any], batch: dict) -> int:
    with FlopCounterMode(display=False) as counter:
        step(batch)
    return int(counter.get_total_flops())


def bench_config(
    name: str,
    path: Path,
    overrides: list[str],
    variants: list[tuple[str, list[str], bool]],
    steps: int,
    warmup: int,
    rates: dict[str, float],
) -> list[dict]:
    """The plain step and each variant (label, spec overrides, unbatched), timed in turn."""
    registry = get_registry()
    base = load_spec(path, registry, [*QUIET_DATA, *overrides])
    device = pick_device(base.spec.train.device)
    spec = base.spec
    batches = make_batches(base)
    images = 2 * spec.train.batch_size  # both domains
    check = compare_losses(base, device)
    fns: list[Callable[[dict], Any]] = [PlainStep(build(base, device).objective, spec, device)]
    labels = [("plain (reference-style)", "fp32")]
    for label, extra, unbatched in variants:
        resolved = load_spec(path, registry, [*QUIET_DATA, *overrides, *extra])
        model = build(resolved, device)
        if unbatched:
            model.engine.batch_networks = False
        fns.append(model.step)
        labels.append((label, resolved.spec.train.precision))
    flops = count_flops(fns[0], batches[0])
    memory = [peak_memory(fn, batches[0], device) for fn in fns]
    seconds = time_interleaved(fns, batches, device, steps, warmup)
    rows = []
    for (label, precision), s, mem in zip(labels, seconds, memory):
        gflops = flops / s / 1e9
        rows.append(
            {
                "config": name,
                "variant": label,
                "precision": precision,
                "crop": spec.data.crop_size,
                "batch": spec.train.batch_size,
                "sec_per_step": s,
                "images_per_s": images / s,
                "flops_per_step": flops,
                "gflops": gflops,
                "speedup_vs_plain": seconds[0] / s,
                "gflops_vs_matmul": gflops / rates["matmul_fp32_gflops"],
                "gflops_vs_conv3x3": gflops / rates["conv3x3_fp32_gflops"],
                "device": str(device),
                **mem,
            }
        )
    rows[0]["loss_check"] = check
    return rows


def table(rows: list[dict]) -> str:
    head = (
        f"{'config':7} {'variant':30} {'prec':5} {'s/step':>8} {'img/s':>7} {'GFLOP':>7} "
        f"{'GFLOP/s':>8} {'x plain':>7} {'peak MB':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        mem = r.get("peak_mem_mb", r.get("peak_rss_mb", 0.0))
        lines.append(
            f"{r['config']:7} {r['variant']:30} {r['precision']:5} {r['sec_per_step']:8.4f} "
            f"{r['images_per_s']:7.1f} {r['flops_per_step'] / 1e9:7.2f} {r['gflops']:8.1f} "
            f"{r['speedup_vs_plain']:7.2f} {mem:8.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--spec", action="append", default=[], help="spec file(s) to time")
    p.add_argument(
        "--config",
        action="append",
        default=[],
        choices=sorted(CONFIGS),
        help="built-in sizes (default: small and paper when no --spec)",
    )
    p.add_argument("--set", action="append", default=[], help="override for every spec")
    p.add_argument(
        "--precision",
        default=None,
        help="comma list (default: fp32,bf16 on CPU; fp32,bf16,fp16 on CUDA)",
    )
    p.add_argument("--channels-last", action="store_true", help="also time channels_last")
    p.add_argument("--compile", action="store_true", help="also time train.compile (slow start)")
    p.add_argument(
        "--unbatched",
        action="store_true",
        help="also time our step with one generator call per input (as before)",
    )
    p.add_argument("--steps", type=int, default=10, help="timed steps (median)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)

    device = pick_device(args.device)
    precisions = args.precision or ("fp32,bf16,fp16" if device.type == "cuda" else "fp32,bf16")
    precisions = [x.strip() for x in precisions.split(",") if x.strip()]
    targets = [(Path(s).stem, Path(s), []) for s in args.spec]
    names = args.config or ([] if targets else ["small", "paper"])
    targets += [(n, *CONFIGS[n]) for n in names]
    rates = machine_rates(device)
    print(
        f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads; machine: "
        + ", ".join(f"{k} {v}" for k, v in rates.items())
    )
    rows: list[dict] = []
    base_set = [*args.set, f"train.device={device.type}"]
    variants: list[tuple[str, list[str], bool]] = []
    for precision in precisions:
        variants.append(("faceoff", [f"train.precision={precision}"], False))
        if args.channels_last:
            extra = [f"train.precision={precision}", "train.channels_last=true"]
            variants.append(("faceoff channels_last", extra, False))
        if args.compile:
            extra = [f"train.precision={precision}", "train.compile=true"]
            variants.append(("faceoff compile", extra, False))
        if args.unbatched:
            variants.append(("faceoff unbatched G", [f"train.precision={precision}"], True))
    for name, path, overrides in targets:
        got = bench_config(
            name, path, [*overrides, *base_set], variants, args.steps, args.warmup, rates
        )
        rows += got
        check = got[0]["loss_check"]
        ok = check["max_rel_diff"] < 1e-4
        print(
            f"{name}: our fp32 step vs the plain step, max relative loss difference "
            f"{check['max_rel_diff']:.2e} ({'ok' if ok else 'DIFFERENT'})",
            flush=True,
        )
    print(table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "torch": torch.__version__,
                    "device": str(device),
                    "threads": torch.get_num_threads(),
                    "machine": platform.processor() or platform.machine(),
                    "rates": rates,
                    "steps": args.steps,
                    "warmup": args.warmup,
                    "rows": rows,
                },
                indent=2,
            )
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
