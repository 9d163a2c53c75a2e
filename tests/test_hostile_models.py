"""Models and sizes from outside: ONNX files faceoff did not write, sizes a network does not give
back, frames too small for the optical flow or too large to decode, and memory that runs out.
Each is one line ``error: ...`` with exit code 2 (or a measure that says why it is missing),
nothing written, the user's files untouched."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from faceoff.cli import cli
from faceoff.data.images import read_image_folder
from faceoff.errors import FaceoffError
from faceoff.eval.temporal import FLOW_MIN_SIZE, temporal
from faceoff.plugins import get_registry
from faceoff.video.apply import open_source
from faceoff.video.io import VideoWriter, probe
from faceoff.weights import import_reference
from tiny import QUICKSTART, TINY, set_args

ROOT = Path(__file__).resolve().parents[1]
FLOAT = TensorProto.FLOAT
IMAGE = ["N", 3, "H", "W"]


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(*args: object) -> str:
    """Run the CLI; assert exit code 2 and one line ``error: ...``, no traceback; the line."""
    result = invoke(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def write_onnx(
    path: Path,
    inputs: list[tuple[str, int, list]] | None = None,
    outputs: list[tuple[str, int, list]] | None = None,
    nodes: list[onnx.NodeProto] | None = None,
    *,
    constants: dict[str, np.ndarray] | None = None,
    meta: dict[str, str] | None = None,
) -> Path:
    """A real ONNX file: by default one float image in, the same out (Identity)."""
    inputs = [("image", FLOAT, IMAGE)] if inputs is None else inputs
    outputs = [("out", FLOAT, IMAGE)] if outputs is None else outputs
    nodes = nodes or [helper.make_node("Identity", [inputs[0][0]], [outputs[0][0]])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(*arg) for arg in inputs],
        [helper.make_tensor_value_info(*arg) for arg in outputs],
        [numpy_helper.from_array(v, k) for k, v in (constants or {}).items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if meta:
        helper.set_model_props(model, meta)
    onnx.save(model, str(path))
    return path


def doubling(path: Path, side: int | str, doubled: int | str) -> Path:
    """Images in, images of twice the height and width out (Resize)."""
    scales = {"scales": np.array([1, 1, 2, 2], np.float32)}
    node = helper.make_node("Resize", ["image", "", "scales"], ["out"], mode="nearest")
    return write_onnx(
        path,
        inputs=[("image", FLOAT, ["N", 3, side, side])],
        outputs=[("out", FLOAT, ["N", 3, doubled, doubled])],
        nodes=[node],
        constants=scales,
    )


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny ResNet network file and a folder of three 40 px frames."""
    root = tmp_path_factory.mktemp("models")
    component = get_registry().get("generator", "resnet")
    params = {"ngf": 4, "n_blocks": 1}
    torch.manual_seed(0)
    net = component.make(component.validate(params), in_channels=3, out_channels=3)
    torch.save(net.state_dict(), root / "g.pth")
    network = root / "g.safetensors"
    import_reference(root / "g.pth", network, "generator", "resnet", params)
    frames = root / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), rng.integers(0, 255, (40, 40, 3), np.uint8))
    return {"root": root, "network": network, "frames": frames}


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# --- ONNX files checked when opened ----------------------------------------------------------

BAD_GRAPHS = {
    "rank-3": ({"inputs": [("image", FLOAT, ["N", 3, "H"])]}, "is [?, 3, ?], not an image"),
    "two-inputs": (
        {
            "inputs": [("image", FLOAT, IMAGE), ("mask", FLOAT, IMAGE)],
            "nodes": [helper.make_node("Add", ["image", "mask"], ["out"])],
        },
        "2 inputs ('image', 'mask'), not one",
    ),
    "no-input": (
        {
            "inputs": [],
            "nodes": [helper.make_node("Identity", ["c"], ["out"])],
            "constants": {"c": np.zeros((1, 3, 8, 8), np.float32)},
            "outputs": [("out", FLOAT, [1, 3, 8, 8])],
        },
        "0 inputs (none), not one",
    ),
    "one-channel": (
        {"inputs": [("image", FLOAT, ["N", 1, "H", "W"])]},
        "1 channels, not 3",
    ),
    "fixed-batch": ({"inputs": [("image", FLOAT, [1, 3, "H", "W"])]}, "a fixed batch of 1"),
    "float16": (
        {
            "inputs": [("image", TensorProto.FLOAT16, IMAGE)],
            "outputs": [("out", TensorProto.FLOAT16, IMAGE)],
        },
        "is tensor(float16), not float32",
    ),
    "two-outputs": (
        {
            "outputs": [("out", FLOAT, IMAGE), ("extra", FLOAT, IMAGE)],
            "nodes": [
                helper.make_node("Identity", ["image"], ["out"]),
                helper.make_node("Identity", ["image"], ["extra"]),
            ],
        },
        "2 outputs ('out', 'extra'), not one",
    ),
    "huge-fixed": (
        {"inputs": [("image", FLOAT, ["N", 3, 60000, 60000])]},
        "fixed at 60000 px, not 8 to 4096",
    ),
    "not-square": ({"inputs": [("image", FLOAT, ["N", 3, 32, 48])]}, "not square"),
}


@pytest.mark.parametrize("case", sorted(BAD_GRAPHS))
def test_an_onnx_file_that_is_no_face_off_generator_is_refused_when_opened(
    made: dict[str, Path], tmp_path: Path, case: str
) -> None:
    graph, expected = BAD_GRAPHS[case]
    model = write_onnx(tmp_path / f"{case}.onnx", **graph)
    before = files(made["frames"])
    line = refused("apply", model, made["frames"], tmp_path / "out", "--no-progress")
    assert str(model) in line and expected in line and "not a face-off generator" in line, line
    assert not (tmp_path / "out").exists() and files(made["frames"]) == before


def test_an_output_of_another_fixed_size_is_refused_when_opened(
    made: dict[str, Path], tmp_path: Path
) -> None:
    model = doubling(tmp_path / "double.onnx", 32, 64)
    line = refused("apply", model, made["frames"], tmp_path / "out")
    assert "makes 64 px images from 32 px ones" in line and str(model) in line


def test_an_output_of_another_size_found_by_running_it_names_no_working_size(
    made: dict[str, Path], tmp_path: Path
) -> None:
    model = doubling(tmp_path / "double.onnx", "H", "H2")
    line = refused("apply", model, made["frames"], tmp_path / "out", "--size", 32)
    assert "makes 64x64 px from 32 px" in line and "no size within 16 px of 32" in line


@pytest.mark.parametrize("value", ["²", "7", "60000", "", "12abc", "-5", "4097", "٣٢"])
def test_faceoff_size_metadata_must_be_an_ascii_size_in_the_cli_limits(
    made: dict[str, Path], tmp_path: Path, value: str
) -> None:
    model = write_onnx(tmp_path / "g.onnx", meta={"faceoff.size": value})
    line = refused("apply", model, made["frames"], tmp_path / "out", "--size", 32)
    assert f"metadata faceoff.size {value!r}" in line and "from 8 to 4096" in line, line
    assert not (tmp_path / "out").exists()


def test_metadata_that_is_not_a_name_or_a_direction_is_not_printed(
    made: dict[str, Path], tmp_path: Path
) -> None:
    meta = {
        "faceoff.network": "G\nerror: fake",
        "faceoff.direction": "b2a\nx",
        "faceoff.size": "32",
    }
    model = write_onnx(tmp_path / "g.onnx", meta=meta)
    done = invoke("apply", model, made["frames"], tmp_path / "out", "--no-progress")
    assert done.exit_code == 0, done.output
    assert "onnx (ONNX) (" in done.output and "fake" not in done.output
    assert "ignored" not in done.output and len(done.output.strip().splitlines()) == 1


def test_an_onnx_file_without_metadata_runs_at_its_fixed_size_and_only_that(
    made: dict[str, Path], tmp_path: Path
) -> None:
    fixed = [("image", FLOAT, ["N", 3, 32, 32])]
    model = write_onnx(tmp_path / "g.onnx", inputs=fixed, outputs=[("out", FLOAT, IMAGE)])
    done = invoke("apply", model, made["frames"], tmp_path / "out", "--no-progress")
    assert done.exit_code == 0, done.output
    assert "at 32 px" in done.output and "onnx (ONNX)" in done.output
    assert cv2.imread(str(tmp_path / "out" / "000000.png")).shape == (32, 32, 3)
    line = refused("apply", model, made["frames"], tmp_path / "other", "--size", 36)
    assert "cannot take 36 px (its input's size is fixed); it takes 32 px only" in line


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's TorchScript exporter
def test_the_nearest_sizes_an_onnx_file_gives_back_are_named(
    made: dict[str, Path], tmp_path: Path
) -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, 2, 1), torch.nn.Upsample(scale_factor=2))
    model = tmp_path / "stride2.onnx"
    axes = {0: "n", 2: "h", 3: "w"}
    torch.onnx.export(
        net, (torch.zeros(1, 3, 32, 32),), str(model), input_names=["image"],
        output_names=["out"], dynamic_axes={"image": axes, "out": axes}, dynamo=False,
    )  # fmt: skip
    line = refused("apply", model, made["frames"], tmp_path / "out", "--size", 31)
    assert "makes 32x32 px from 31 px" in line
    assert "the nearest sizes it gives back unchanged are 30 and 32; give one with --size" in line


def test_an_onnxruntime_error_while_running_is_one_line_naming_the_file(
    made: dict[str, Path], tmp_path: Path
) -> None:
    """Pixel values as indices into a table of 10: zeros (the size check's probe) run, frames
    fail inside onnxruntime."""
    nodes = [
        helper.make_node("Mul", ["image", "hundred"], ["scaled"]),
        helper.make_node("Cast", ["scaled"], ["index"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "index"], ["out"], axis=0),
    ]
    table = {"table": np.zeros(10, np.float32), "hundred": np.array(100, np.float32)}
    model = write_onnx(tmp_path / "table.onnx", nodes=nodes, constants=table)
    args = ["--size", 32, "--batch", 2, "--no-progress"]
    line = refused("apply", model, made["frames"], tmp_path / "out", *args)
    assert f"error: {model}: onnxruntime failed on [2, 3, 32, 32] (" in line, line
    assert not (tmp_path / "out").exists()


def test_export_refuses_an_onnx_file(made: dict[str, Path], tmp_path: Path) -> None:
    model = write_onnx(tmp_path / "g.onnx")
    before = model.read_bytes()
    line = refused("export", model, tmp_path / "again.onnx")
    assert "is an ONNX file already" in line and "a run folder" in line
    assert not (tmp_path / "again.onnx").exists() and model.read_bytes() == before


# --- sizes the network does not give back ----------------------------------------------------


@pytest.mark.parametrize(("size", "near"), [(30, "28 or 32"), (9, "8 or 12"), (11, "8 or 12")])
def test_apply_and_export_refuse_a_size_the_network_does_not_give_back(
    made: dict[str, Path], tmp_path: Path, size: int, near: str
) -> None:
    line = refused("apply", made["network"], made["frames"], tmp_path / "out", "--size", size)
    assert f"generator makes {size + 4 - size % 4}x" in line and f"try {near}" in line, line
    assert "resnet needs an image size divisible by 4" in line and "--size" in line
    line = refused("export", made["network"], tmp_path / "g.onnx", "--size", size)
    assert f"try {near}" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [8, 12])
def test_the_smallest_sizes_apply_and_say_why_the_warping_error_is_missing(
    made: dict[str, Path], tmp_path: Path, size: int
) -> None:
    done = invoke("apply", made["network"], made["frames"], tmp_path / "out", "--size", size)
    assert done.exit_code == 0, done.output
    assert f"warping error n/a (frames of {size}x{size} px" in done.output
    assert "tOF" in done.output
    assert cv2.imread(str(tmp_path / "out" / "000002.png")).shape == (size, size, 3)


@pytest.mark.parametrize("shape", [(8, 8), (11, 11), (12, 12), (14, 40), (40, 14)])
def test_the_warping_error_skips_frames_below_the_flow_minimum(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (3, *shape, 3), np.uint8)
    report = temporal(frames, frames[::-1].copy())  # 14x40 crashed OpenCV's DIS flow
    assert report["warping"]["computed"] is False
    assert f"frames of {shape[1]}x{shape[0]} px" in report["warping"]["reason"]
    assert report["tof"]["computed"] and report["stability"]["computed"]
    big = rng.integers(0, 255, (3, FLOW_MIN_SIZE, FLOW_MIN_SIZE, 3), np.uint8)
    assert temporal(big, big)["warping"]["computed"]


# --- frames too large to decode --------------------------------------------------------------


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose header announces ``width`` x ``height`` and holds no pixels: a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize(
    ("width", "height", "said"),
    [(25000, 25000, "625,000,000 pixels"), (9000, 9000, "9000x9000 px (81,000,000 pixels)")],
)
def test_a_frame_announcing_too_many_pixels_is_refused_before_decoding(
    made: dict[str, Path], tmp_path: Path, width: int, height: int, said: str
) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    png_header(frames / "huge.png", width, height)
    (frames / "0.png").write_bytes((made["frames"] / "0.png").read_bytes())
    line = refused("apply", made["network"], frames, tmp_path / "out", "--size", 32)
    assert str(frames / "huge.png") in line and said in line and "67,108,864" in line, line
    line = refused("masks", "synthetic", frames, tmp_path / "masks", "--size", 32)
    assert said in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_the_pixel_limit_is_a_parameter_of_every_frame_reader(
    made: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(
        FaceoffError, match=r"0\.png: 40x40 px \(1,600 pixels\) is more than the 1,599"
    ):
        read_image_folder(made["frames"], 32, max_pixels=1599)
    assert len(read_image_folder(made["frames"], 32, max_pixels=1600)) == 3
    with pytest.raises(FaceoffError, match=r"40x40 px \(1,600 pixels\)"):
        open_source(made["frames"], max_pixels=1599)
    video = tmp_path / "v.mp4"
    with VideoWriter(video, 25, 48, 32) as writer:
        for _ in range(2):
            writer.write(np.zeros((32, 48, 3), np.uint8))
    with pytest.raises(FaceoffError, match=r"v\.mp4: 48x32 px \(1,536 pixels\)"):
        probe(video, max_pixels=1535)
    assert probe(video, max_pixels=1536).frames == 2


# --- memory that runs out --------------------------------------------------------------------

UNDER_A_LIMIT = """
import resource, sys
import torch
from faceoff.cli import main
import faceoff.train.run, faceoff.video.apply  # loaded before the limit
torch.ones(64, 64) @ torch.ones(64, 64)  # the thread pool too
size = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize"))
limit = size * 1024 + {extra} * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
for args in {commands!r}:
    sys.argv = ["faceoff", *args]
    try:
        main()
    except SystemExit as exc:
        print("exit", exc.code, flush=True)
    print("=" * 8, file=sys.stderr, flush=True)
"""


def test_running_out_of_cpu_memory_is_one_line_that_says_what_to_lower(
    made: dict[str, Path], tmp_path: Path
) -> None:
    big = ["train.batch_size=2048", "data.crop_size=64", "data.load_size=64", "train.max_steps=1"]
    train = ["run", str(QUICKSTART), "--out", str(tmp_path / "run"), "--no-progress"]
    apply = [str(made["network"]), str(made["frames"]), str(tmp_path / "out"), "--no-progress"]
    commands = [
        [*train, *set_args([*TINY, *big])],
        ["apply", *apply, "--size", "2048", "--batch", "16"],
    ]
    script = textwrap.dedent(UNDER_A_LIMIT).format(extra=600, commands=commands)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.stdout.split() == ["exit", "2", "exit", "2"], (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    trained, applied = (part.strip().splitlines() for part in done.stderr.split("=" * 8)[:2])
    assert trained[-1].startswith("error: out of memory on cpu (RAM) at step 1 with ")
    assert "train.batch_size 2048 and data.crop_size 64; lower one of them" in trained[-1]
    assert applied == [applied[-1]] and applied[-1].startswith("error: out of memory on cpu")
    assert "--size" in applied[-1] and not (tmp_path / "out").exists()
