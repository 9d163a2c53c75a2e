"""Index groups of insightface's 106-point 2D landmarks (``2d106det.onnx``, model pack buffalo_l).

insightface publishes the layout only as a picture (``2d106markup.jpg``, linked from
``alignment/coordinate_reg/README.md`` in deepinsight/insightface); the groups below are the ones
that code built on that model uses:

=========  =========  ==============================================================
indices    points     region
=========  =========  ==============================================================
0-32       33         face contour (temples, jaw line, chin)
33-42      10         one eye
43-51      9          the eyebrow above it
52-71      20         mouth (outer and inner lip lines)
72-86      15         nose (bridge, sides, tip)
87-96      10         the other eye
97-105     9          the eyebrow above it
=========  =========  ==============================================================

The provider only uses these groups through convex hulls, so it depends neither on the order of the
points within a group nor on which eye is called left.
"""

from __future__ import annotations

NUM_POINTS = 106
CONTOUR = tuple(range(0, 33))
EYE_A = tuple(range(33, 43))
BROW_A = tuple(range(43, 52))
MOUTH = tuple(range(52, 72))
NOSE = tuple(range(72, 87))
EYE_B = tuple(range(87, 97))
BROW_B = tuple(range(97, 106))

EYES = (EYE_A, EYE_B)
BROWS = BROW_A + BROW_B
GROUPS: dict[str, tuple[int, ...]] = {
    "contour": CONTOUR,
    "eye_a": EYE_A,
    "brow_a": BROW_A,
    "mouth": MOUTH,
    "nose": NOSE,
    "eye_b": EYE_B,
    "brow_b": BROW_B,
}
