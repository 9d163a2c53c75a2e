"""``faceoff import-weights`` and ``faceoff.load_network``.

The reference networks are written here, independently of ``faceoff_cyclegan``, from the layer
sequences that shared/REFERENCE.md describes, with the reference's module tree (and so its
state-dict keys). Their state_dicts, saved with ``torch.save`` as the reference saves
``latest_net_G_A.pth``, are imported, and the imported network must compute the same output.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

import faceoff
from faceoff.cli import cli
from faceoff.errors import FaceoffError
from faceoff.plugins import get_registry
from faceoff.spec import load_spec
from faceoff.train.run import train
from faceoff.weights import import_reference
from tiny import QUICKSTART, TINY

# ---------------------------------------------------------------- the reference


def ref_norm(kind: str):
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)


class RefResnetBlock(nn.Module):
    def __init__(self, dim: int, norm, bias: bool, dropout: bool) -> None:
        super().__init__()
        seq = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm(dim), nn.ReLU(True)]
        seq += [nn.Dropout(0.5)] if dropout else []
        seq += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm(dim)]
        self.conv_block = nn.Sequential(*seq)

    def forward(self, x):
        return x + self.conv_block(x)


class RefResnet(nn.Module):
    def __init__(self, ngf: int, n_blocks: int, norm: str = "instance", dropout: bool = False):
        super().__init__()
        n, bias = ref_norm(norm), norm == "instance"
        seq = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=bias), n(ngf), nn.ReLU(True)]
        for mult in (1, 2):
            seq += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=bias)]
            seq += [n(ngf * mult * 2), nn.ReLU(True)]
        seq += [RefResnetBlock(ngf * 4, n, bias, dropout) for _ in range(n_blocks)]
        for mult in (4, 2):
            seq += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, 1, bias=bias)]
            seq += [n(ngf * mult // 2), nn.ReLU(True)]
        seq += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


class RefUnetBlock(nn.Module):
    def __init__(
        self,
        outer,
        inner,
        in_nc=None,
        sub=None,
        outermost=False,
        innermost=False,
        norm=None,
        dropout=False,
    ):
        super().__init__()
        self.outermost = outermost
        in_nc = in_nc or outer
        down = nn.Conv2d(in_nc, inner, 4, 2, 1, bias=True)
        # In place as in the reference: cat([x, ...]) then sees the activated x, which the
        # enclosing level's ReLU makes the same as x.
        if outermost:
            seq = [down, sub, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1)]
            seq += [nn.Tanh()]
        elif innermost:
            seq = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True)]
            seq += [nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=True), norm(outer)]
        else:
            seq = [nn.LeakyReLU(0.2, True), down, norm(inner), sub, nn.ReLU(True)]
            seq += [nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=True), norm(outer)]
            seq += [nn.Dropout(0.5)] if dropout else []
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class RefUnet(nn.Module):
    def __init__(self, num_downs: int, ngf: int, dropout: bool = False):
        super().__init__()
        n = ref_norm("instance")
        block = RefUnetBlock(ngf * 8, ngf * 8, innermost=True, norm=n)
        for _ in range(num_downs - 5):
            block = RefUnetBlock(ngf * 8, ngf * 8, sub=block, norm=n, dropout=dropout)
        for outer, inner in ((4, 8), (2, 4), (1, 2)):
            block = RefUnetBlock(ngf * outer, ngf * inner, sub=block, norm=n)
        self.model = RefUnetBlock(3, ngf, 3, sub=block, outermost=True, norm=n)

    def forward(self, x):
        return self.model(x)


class RefPatchGAN(nn.Module):
    def __init__(self, ndf: int, n_layers: int, norm: str = "instance"):
        super().__init__()
        n, bias = ref_norm(norm), norm == "instance"
        seq = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for i in range(1, n_layers):
            prev, mult = mult, min(2**i, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=bias), n(ndf * mult)]
            seq += [nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**n_layers, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=bias), n(ndf * mult)]
        seq += [nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


class RefPixel(nn.Module):
    def __init__(self, ndf: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1),
            nn.InstanceNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1),
        )

    def forward(self, x):
        return self.net(x)


def randomised(net: nn.Module, seed: int = 0) -> nn.Module:
    """Weights, biases and batch-norm statistics all random, so no key can be mixed up unseen."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, value in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                value.fill_(7)
            elif name.endswith("running_var"):
                value.copy_(torch.rand(value.shape, generator=g) + 0.5)
            else:
                value.copy_(torch.randn(value.shape, generator=g) * 0.1)
    return net.eval()


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# ---------------------------------------------------------------- import and compare


CASES = [
    pytest.param(
        lambda: RefResnet(ngf=8, n_blocks=9),
        ["--generator", "resnet", "--param", "ngf=8"],
        32,
        id="resnet-9-blocks",
    ),
    pytest.param(
        lambda: RefUnet(num_downs=7, ngf=2, dropout=True),
        ["--generator", "unet", "--param", "num_downs=7", "--param", "ngf=2"],
        128,
        id="unet-128",
    ),
    pytest.param(
        lambda: RefPatchGAN(ndf=8, n_layers=3),
        ["--discriminator", "patchgan", "--param", "ndf=8"],
        64,
        id="patchgan-70x70",
    ),
    pytest.param(
        lambda: RefPixel(ndf=8),
        ["--discriminator", "pixel", "--param", "ndf=8"],
        16,
        id="pixel",
    ),
]


@pytest.mark.parametrize(("make_ref", "args", "size"), CASES)
def test_an_imported_network_computes_what_the_reference_computes(
    tmp_path: Path, make_ref, args: list[str], size: int
) -> None:
    ref = randomised(make_ref())
    src, dest = tmp_path / "latest_net_G_A.pth", tmp_path / "net.safetensors"
    torch.save(ref.state_dict(), src)
    result = invoke("import-weights", src, dest, *args)
    assert result.exit_code == 0, result.output
    assert f"wrote {dest}" in result.stdout and f"{len(ref.state_dict())} tensors" in result.stdout

    ours = faceoff.load_network(dest)
    assert not ours.training
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        expected, got = ref(x.clone()), ours(x.clone())
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() < 1e-5

    with safe_open(str(dest), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["format"] == "faceoff.network/1" and meta["source"] == src.name
    assert meta["kind"] == ("generator" if "--generator" in args else "discriminator")
    assert json.loads(meta["params"]) == json.loads(json.dumps(ours_params(meta)))


def ours_params(meta: dict[str, str]) -> dict:
    component = get_registry().get(meta["kind"], meta["plugin"])
    return component.params.model_validate(json.loads(meta["params"])).model_dump(mode="json")


def test_data_parallel_prefixes_and_batch_norm_counters_are_handled(tmp_path: Path) -> None:
    ref = randomised(RefResnet(ngf=4, n_blocks=2, norm="batch", dropout=True))
    state = {f"module.{k}": v for k, v in ref.state_dict().items()}
    assert any(k.endswith("num_batches_tracked") for k in state)
    src, dest = tmp_path / "dp.pth", tmp_path / "dp.safetensors"
    torch.save(state, src)
    args = ["--param", "ngf=4", "--param", "n_blocks=2", "--param", "norm=batch"]
    result = invoke(
        "import-weights", src, dest, "--generator", "resnet", *args, "--param", "dropout=true"
    )
    assert result.exit_code == 0, result.output
    ours = faceoff.load_network(dest)
    x = torch.rand(1, 3, 24, 24) * 2 - 1
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max().item() < 1e-5
    # Counters the file lacks (older checkpoints) are not an error; nor are stray ones.
    state = {k: v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, src)
    result = invoke(
        "import-weights", src, dest, "--generator", "resnet", *args, "--param", "dropout=true"
    )
    assert result.exit_code == 0, result.output
    plain = randomised(RefPatchGAN(ndf=4, n_layers=2))
    state = {**plain.state_dict(), "model.3.num_batches_tracked": torch.tensor(3)}
    torch.save(state, src)
    result = invoke(
        "import-weights",
        src,
        dest,
        "--discriminator",
        "patchgan",
        "--param",
        "ndf=4",
        "--param",
        "n_layers=2",
    )
    assert result.exit_code == 0, result.output


class Payload:
    """Unpickling this would create a file: what a malicious checkpoint could do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker, src, dest = tmp_path / "pwned", tmp_path / "evil.pth", tmp_path / "out.safetensors"
    state = dict(randomised(RefPixel(ndf=2)).state_dict())
    state["net.0.weight"] = Payload(marker)
    torch.save(state, src)
    result = invoke("import-weights", src, dest, "--discriminator", "pixel", "--param", "ndf=2")
    line = one_line_error(result)
    assert str(src) in line and "refused" in line and "nothing in the file was executed" in line
    assert not marker.exists(), "the file's code ran"
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == [src]
    with pytest.raises(FaceoffError, match="refused"):
        import_reference(src, dest, "discriminator", "pixel", {"ndf": 2})
    # The file really is malicious: an unguarded load runs its code.
    torch.load(src, weights_only=False)
    assert marker.exists()


def test_a_file_made_with_other_params_is_refused_with_a_hint(tmp_path: Path) -> None:
    src, dest = tmp_path / "g.pth", tmp_path / "g.safetensors"
    torch.save(RefResnet(ngf=4, n_blocks=9).state_dict(), src)
    result = invoke(
        "import-weights",
        src,
        dest,
        "--generator",
        "resnet",
        "--param",
        "ngf=4",
        "--param",
        "n_blocks=6",
    )
    line = one_line_error(result)
    assert "does not fit generator 'resnet'" in line and "unexpected keys (model.16." in line
    assert line.endswith("the file fits resnet with --param n_blocks=9")
    assert not dest.exists()

    torch.save(RefResnet(ngf=4, n_blocks=2, dropout=True).state_dict(), src)
    result = invoke("import-weights", src, dest, "--generator", "resnet", "--param", "ngf=4")
    line = one_line_error(result)
    assert "conv_block.6" in line and "--param n_blocks=2 --param dropout=true" in line

    result = invoke("import-weights", src, dest, "--generator", "unet")
    line = one_line_error(result)
    assert "the file fits generator 'resnet': --generator resnet --param ngf=4" in line
    assert not dest.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--generator", "resnte"], "unknown generator 'resnte'; valid: resnet"),
        (["--discriminator", "patch"], "unknown discriminator 'patch'; valid: "),
        ([], "give exactly one of --generator NAME or --discriminator NAME"),
        (["--generator", "resnet", "--discriminator", "pixel"], "give exactly one of"),
        (["--generator", "resnet", "--param", "n_blocks"], "--param 'n_blocks': expected KEY="),
        (["--generator", "resnet", "--param", "n_blocks=0"], "params: n_blocks: Input should be"),
        (["--generator", "resnet", "--param", "width=3"], "params: width: unknown key"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path: Path, args: list[str], expected: str) -> None:
    src, dest = tmp_path / "g.pth", tmp_path / "g.safetensors"
    torch.save(RefPixel(ndf=2).state_dict(), src)
    line = one_line_error(invoke("import-weights", src, dest, *args))
    assert expected in line
    assert not dest.exists()


def test_a_missing_or_broken_source_is_an_error(tmp_path: Path) -> None:
    dest = tmp_path / "out.safetensors"
    line = one_line_error(
        invoke("import-weights", tmp_path / "nope.pth", dest, "--generator", "resnet")
    )
    assert "nope.pth: no such file" in line
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00not a checkpoint" * 50)
    assert "junk.pth" in one_line_error(
        invoke("import-weights", junk, dest, "--generator", "resnet")
    )
    torch.save([torch.zeros(1)], junk)
    line = one_line_error(invoke("import-weights", junk, dest, "--generator", "resnet"))
    assert "holds a list, not a state_dict" in line
    torch.save({"epoch": 3, "model.1.weight": torch.zeros(1)}, junk)
    line = one_line_error(invoke("import-weights", junk, dest, "--generator", "resnet"))
    assert "1 entries are not tensors (epoch)" in line
    assert not dest.exists()


# ---------------------------------------------------------------- load_network


def test_load_network_reads_a_run_checkpoint(tmp_path: Path) -> None:
    resolved = load_spec(QUICKSTART, get_registry(), [*TINY, "train.max_steps=1"])
    result = train(resolved, tmp_path / "run", show_progress=False)
    checkpoint = result.checkpoint
    assert checkpoint is not None and checkpoint.exists()
    tensors = load_file(str(checkpoint))

    g = faceoff.load_network(checkpoint)
    assert not g.training
    expected = resolved.build("generator", in_channels=3, out_channels=3)
    expected.load_state_dict(
        {k.removeprefix("net.G_AB."): v for k, v in tensors.items() if k.startswith("net.G_AB.")}
    )
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(g(x), expected.eval()(x))
    g_ba = faceoff.load_network(checkpoint, "G_BA")
    assert torch.equal(g_ba.model[1].weight, tensors["net.G_BA.model.1.weight"])
    d_b = faceoff.load_network(checkpoint, network="D_B")
    assert torch.equal(d_b.model[0].weight, tensors["net.D_B.model.0.weight"])
    with pytest.raises(FaceoffError, match=r"network 'G_A': a run checkpoint holds G_AB, G_BA"):
        faceoff.load_network(checkpoint, "G_A")


def test_load_network_refuses_anything_else(tmp_path: Path) -> None:
    junk = tmp_path / "random.bin"
    junk.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    with pytest.raises(FaceoffError, match=r"random.bin: not a faceoff network file or run"):
        faceoff.load_network(junk)
    with pytest.raises(FaceoffError, match=r"nowhere.safetensors: no such file"):
        faceoff.load_network(tmp_path / "nowhere.safetensors")
    other = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(other), metadata={"format": "someone-else/1"})
    with pytest.raises(FaceoffError, match=r"other.safetensors: not a faceoff network .*'someone"):
        faceoff.load_network(other)
    pth = tmp_path / "g.pth"
    torch.save(RefPixel(ndf=2).state_dict(), pth)
    with pytest.raises(FaceoffError, match=r"g.pth: not a faceoff network file"):
        faceoff.load_network(pth)
    # A network file whose params do not fit its tensors says so.
    dest = tmp_path / "p.safetensors"
    import_reference(pth, dest, "discriminator", "pixel", {"ndf": 2})
    with safe_open(str(dest), framework="pt") as handle:
        meta = handle.metadata()
    save_file(load_file(str(dest)), str(dest), metadata={**meta, "params": '{"ndf": 3}'})
    with pytest.raises(FaceoffError, match=r"p.safetensors: the network does not fit"):
        faceoff.load_network(dest)
    with pytest.raises(FaceoffError, match=r"holds one discriminator; network='D_A' is for run"):
        faceoff.load_network(dest, "D_A")
