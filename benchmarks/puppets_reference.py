"""The reference rows of the puppets ground-truth set, scored by ``faceoff eval``'s own judges:
the ideal face-off (B's puppet driven by A's true test parameters) and no face-off (output =
input), for the quickstart's data settings (2,000 + 200 frames, 72 px cropped to 64).

    python benchmarks/puppets_reference.py --seed 0 --out benchmarks/results/puppets_ref_s0.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from ablation import ideal_frames  # the same ideal row as the ablation report's

from faceoff.eval.core import measure
from faceoff.eval.data import load_eval_data

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
    ideal = ideal_frames({"data": DATA}, data)
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
