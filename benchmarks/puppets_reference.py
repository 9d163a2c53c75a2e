"""The reference rows of the puppets ground-truth set, scored by ``faceoff eval``'s own judges:
the ideal face-off (B's puppet driven by A's true test parameters) and no face-off (output =
input), for the quickstart's data settings (2,000 + 200 frames, 72 px cropped to 64).

    python benchmarks/puppets_reference.py --seed 0 --out benchmarks/results/puppets_ref_s0.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from faceoff.eval.core import measure
from faceoff.eval.data import load_eval_data
from faceoff.frames import center_crop, to_tensor
from faceoff_puppets import PuppetsParams
from faceoff_puppets.animate import make_puppet, render_frame, working_side
from faceoff_puppets.photos import load_photos

DATA = {
    "source": {"plugin": "puppets", "params": {"seed": 0, "frames": 2000, "test_frames": 200}},
    "load_size": 72,
    "crop_size": 64,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="The judges' seed (eval --seed).")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_eval_data({"data": DATA}, "puppets")
    params = PuppetsParams()
    _, b = load_photos(None)
    puppet = make_puppet(b.image, b.landmarks, working_side(72), params.face, params.mouth)
    truth = data.test_params[0]
    count = len(data.test[0])
    rendered = [
        render_frame(puppet, {k: float(v[i]) for k, v in truth.items()}, 72) for i in range(count)
    ]
    ideal = center_crop(to_tensor(np.stack(rendered)), 64)
    result = {
        "ideal": measure(data, "a2b", ideal, seed=args.seed, with_landmarks=False),
        "no_face_off": measure(data, "a2b", data.test[0], seed=args.seed, with_landmarks=False),
    }
    for name, row in result.items():
        e = row["expression"]
        print(
            f"{name}: expression {e['translated']:.3f} (probe on real B {e['held_out']:.3f}), "
            f"identity {row['identity']['score']:.2f}"
        )
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
