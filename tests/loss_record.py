"""Record every loss term of fixed-seed CPU fp32 runs, at full precision: the refactor fixture.

``python tests/loss_record.py OUT.json`` trains the quickstart for 50 steps and a set of tiny
variants (every adversarial loss, masks in both modes, several discriminators, U-Net, dropout,
RMSprop, channels-last, bf16) and writes each step's loss terms as exact float32 values, with a
hash of each network's final weights. ``tests/fixtures/losses.json`` was written this way by the
code from before the training objective became a plugin; ``test_fixture_losses.py`` checks that
today's code computes the very same numbers.

Numbers depend on the CPU's instruction set (oneDNN and ATen pick different kernels, which round
differently), so the recording runs in a pinned arithmetic: :data:`PINNED_ENV` (AVX2 kernels on
every machine, fixed thread count). :func:`probe` hashes a few operations computed in plain torch,
independent of faceoff: where it differs from the fixture's, this machine rounds differently even
in the pinned arithmetic, and only agreement to a tolerance can be asked of it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "tests" / "fixtures" / "quickstart-1500.json"
"""The quickstart as the fixture was recorded with (CycleGAN, flips, cycle 10, identity 0.5): the
fixture stays that run's, whatever ``examples/quickstart.json`` becomes."""
LEGACY_RUN = ROOT / "tests" / "fixtures" / "run-0.1"
"""A run folder written by faceoff 0.1 (tiny networks, 2 steps): it must still resume and apply."""
THREADS = 2

PINNED_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "AVX2",
    "OMP_NUM_THREADS": str(THREADS),
    "MKL_NUM_THREADS": str(THREADS),
}

# A frozen copy of tests/tiny.py's TINY as the fixture was recorded with it (0.1's --set keys
# included, which must keep working): the fixture's numbers depend on every value here.
TINY = [
    "data.source.params.frames=8",
    "data.source.params.test_frames=2",
    "data.load_size=36",
    "data.crop_size=32",
    "generator.params.ngf=4",
    "generator.params.n_blocks=1",
    "discriminator.params.ndf=4",
    "train.batch_size=2",
    "train.pool_size=3",
    "output.log_every=1",
]
_MASKS = 'mask={"provider": {"plugin": "synthetic"}, "mode": "%s"}'
_MULTI = (
    'discriminator={"plugin": "multi", "params": {"members": ['
    '{"plugin": "patchgan", "params": {"ndf": 4, "n_layers": 2}, "weight": 0.7},'
    '{"plugin": "patchgan", "params": {"ndf": 4, "n_layers": 3}}]}}'
)

VARIANTS: dict[str, list[str]] = {
    "tiny": [],
    "vanilla": ['losses.adversarial={"plugin": "vanilla"}'],
    "wgan": [
        'losses.adversarial={"plugin": "wgan", "params": {"n_critic": 2}}',
        "optimizer={}",  # the loss's proposal: RMSprop at 5e-5
    ],
    "wgan-gp": ['losses.adversarial={"plugin": "wgan-gp", "params": {"n_critic": 2}}'],
    "l1-ssim": ['losses.cycle=[{"plugin": "l1"}, {"plugin": "ssim", "params": {"win_size": 7}}]'],
    "multi-d": [_MULTI],
    "mask-weight": [_MASKS % "weight", 'losses.cycle=[{"plugin": "masked-l1"}]'],
    "mask-crop": [_MASKS % "crop"],
    "no-identity-no-pool": ["losses.identity=0", "train.pool_size=0"],
    "dropout": ["generator.params.dropout=true"],
    "unet": ['generator={"plugin": "unet", "params": {"num_downs": 5, "ngf": 4}}'],
    "rmsprop-unfused": [
        'optimizer={"name": "rmsprop", "lr": 0.0001}',
        "train.fused_optimizer=false",
    ],
    "channels-last": ["train.channels_last=true"],
    "bf16": ["train.precision=bf16"],
}
# Samples and checkpoints change no number; written once, at the end, they cost least.
_QUIET = ["train.device=cpu", "output.sample_every=100000", "output.checkpoint_every=100000"]
TINY_STEPS = 4
QUICKSTART_STEPS = 50


def probe() -> str:
    """A hash of plain-torch arithmetic like a training step's: the quickstart's generator and
    discriminator (built by their plugins, which the refactor does not touch) forward and
    backward at its shapes, a fused Adam step, a bf16 convolution."""
    import torch
    import torch.nn.functional as F

    from faceoff.plugins import get_registry

    registry = get_registry()
    torch.manual_seed(0)
    gen = registry.get("generator", "resnet").make({"ngf": 16, "n_blocks": 6})
    disc = registry.get("discriminator", "patchgan").make({"ndf": 16, "n_layers": 3})
    x = torch.rand(4, 3, 64, 64) * 2 - 1
    fake = gen(x)
    loss = (fake - x).abs().mean() + disc(fake).square().mean()
    loss.backward()
    opt = torch.optim.Adam([*gen.parameters(), *disc.parameters()], lr=2e-4, fused=True)
    opt.step()
    out = {"loss": loss.detach(), "fake": fake.detach()}
    out.update({f"g.{k}": v.detach() for k, v in gen.state_dict().items()})
    out.update({f"d.{k}": v.detach() for k, v in disc.state_dict().items()})
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out["bf16"] = F.conv2d(x, torch.ones(8, 3, 3, 3) * 0.1).float()
    digest = hashlib.sha256()
    for name in sorted(out):
        digest.update(name.encode())
        digest.update(out[name].contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def machine() -> dict[str, Any]:
    """The CPU kind a recording belongs to: its vendor and the instruction sets that decide
    kernels. Even in the pinned arithmetic, rounding can differ between kinds (RMSprop and
    Adam with beta1 0 did between an Intel Sapphire Rapids and an AMD EPYC with AVX-512,
    while :func:`probe` agreed), so a fixture is compared bit for bit only on its own kind."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    vendor, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return {"vendor": vendor, "isa": [f for f in ISA_FLAGS if f in flags]}


def _weights_hash(state: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().float().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def record(
    overrides: list[str], steps: int, spec: Path = QUICKSTART, resume: Path | None = None
) -> dict[str, Any]:
    """Train ``spec`` with ``overrides`` for ``steps`` steps on the CPU (or continue the run in
    ``resume`` to that step); the terms of each step (exact float32 values) and a hash of each
    network's final weights."""
    from faceoff.plugins import get_registry
    from faceoff.spec import load_spec
    from faceoff.train.build import Training
    from faceoff.train.run import train

    rows: list[dict[str, float]] = []
    nets: dict[str, str] = {}
    original = Training.step

    def step(self: Any, batch: Any) -> Any:
        terms = original(self, batch)
        rows.append({k: float(v) for k, v in terms.items()})
        for name, net in self.objective.networks.items():
            nets[name] = _weights_hash(net.state_dict())
        return terms

    Training.step = step
    try:
        # fp32 first (0.1's default; 'auto' now picks by the CPU), so a variant may change it
        every = ["train.precision=fp32", *overrides, *_QUIET, f"train.max_steps={steps}"]
        resolved = load_spec(spec, get_registry(), every)
        with tempfile.TemporaryDirectory() as tmp:
            if resume is not None:
                train(resolved, resume, resume=True, show_progress=False)
            else:
                train(resolved, Path(tmp) / "run", show_progress=False)
    finally:
        Training.step = original
    return {"overrides": overrides, "steps": rows, "networks": nets}


def record_legacy_resume() -> dict[str, Any]:
    """Resume :data:`LEGACY_RUN` (a copy) from its step-2 checkpoint to step 4."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(LEGACY_RUN, run)
        return record(TINY, TINY_STEPS, resume=run)


def legacy_apply() -> str:
    """A hash of what ``faceoff apply`` makes of the synthetic test frames with the a2b
    generator of :data:`LEGACY_RUN`'s checkpoint (uint8 frames)."""
    import torch

    from faceoff.plugins import get_registry
    from faceoff.spec import load_spec
    from faceoff.translate import translate
    from faceoff.video.apply import load_generator

    spec = load_spec(LEGACY_RUN / "spec.json", get_registry())
    test_a, _ = spec.build("data.source").load("test", spec.spec.data.crop_size)
    generator = load_generator(LEGACY_RUN, "a2b")
    out = translate(generator.net, test_a.frames, torch.device("cpu"))
    return hashlib.sha256(out.tobytes()).hexdigest()[:16]


def record_all() -> dict[str, Any]:
    import torch

    torch.set_num_threads(THREADS)
    runs = {"quickstart": record([], QUICKSTART_STEPS)}
    for name, extra in VARIANTS.items():
        runs[name] = record([*TINY, *extra], TINY_STEPS)
    runs["resume-0.1"] = record_legacy_resume()
    return {
        "probe": probe(),
        "machine": machine(),
        "torch": torch.__version__,
        "env": PINNED_ENV,
        "runs": runs,
        "apply-0.1": legacy_apply(),
    }


if __name__ == "__main__":
    data = record_all()
    Path(sys.argv[1]).write_text(json.dumps(data, indent=1) + "\n")
