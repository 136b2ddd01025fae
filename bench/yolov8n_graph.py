"""YOLOv8n's architecture as an ONNX graph, with random weights: a stand-in with its cost.

No weights may be downloaded, but what a box's budget depends on is the
network's shape, not what it learnt: the layers, channel widths and
resolutions decide the inference time, the activations onnxruntime holds and
the weights' memory. This builds the graph Ultralytics exports for YOLOv8n
(width 0.25, depth 0.33: the Conv/C2f/SPPF backbone, the PAN neck and the
decoupled head with DFL, BatchNorm fused into the convolutions as an export
does) at the requested input size, with an output ``[1, 84, N]`` in the
``yolov8`` layout the agent reads (cx, cy, w, h in input pixels, 80 class
scores). Its weights are random (He-scaled), and the class biases are set so
that nothing scores above the threshold: it detects nothing, at YOLOv8n's
price. Checked against Ultralytics' summary of the fused YOLOv8n (3.15 M
parameters, 8.7 GFLOPs at 640x640): this graph has 3.15 M parameters and
8.74 GFLOPs at 640x640 (2.19 at 320x320).

So published YOLOv8n timings on real hardware (a Raspberry Pi) can be set
against this graph's timings here: that is the Pi-class benchmark's
calibration (docs/budget.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from agent.detect.model import file_sha256  # noqa: E402
from tests.agent.detect.synthetic_models import GraphBuilder  # noqa: E402

__all__ = ["CLASS_COUNT", "build_yolov8n", "parameter_count", "write_yolov8n"]

CLASS_COUNT = 80
REG_MAX = 16
STRIDES = (8, 16, 32)


class _Net:
    def __init__(self, seed: int = 8) -> None:
        self.g = GraphBuilder()
        self.rng = np.random.default_rng(seed)
        self.parameters = 0

    def conv(
        self,
        x: str,
        c_in: int,
        c_out: int,
        k: int = 1,
        s: int = 1,
        act: bool = True,
        bias: float | np.ndarray | None = None,
    ) -> str:
        weight = self.rng.normal(0, (2 / (k * k * c_in)) ** 0.5, (c_out, c_in, k, k))
        b = np.zeros(c_out) if bias is None else np.broadcast_to(bias, (c_out,))
        self.parameters += weight.size + c_out
        y = self.g.op(
            "Conv",
            x,
            self.g.const(weight.astype(np.float32)),
            self.g.const(np.asarray(b, dtype=np.float32)),
            kernel_shape=[k, k],
            strides=[s, s],
            pads=[k // 2] * 4,
        )
        return self.g.op("Mul", y, self.g.op("Sigmoid", y)) if act else y  # SiLU

    def c2f(self, x: str, c_in: int, c_out: int, n: int, shortcut: bool) -> str:
        c = c_out // 2
        y = self.conv(x, c_in, 2 * c)
        a, b = self.g.ops("Split", y, self.g.const([c, c], np.int64), axis=1, outputs=2)
        parts = [a, b]
        for _ in range(n):
            z = self.conv(self.conv(parts[-1], c, c, 3), c, c, 3)
            parts.append(self.g.op("Add", parts[-1], z) if shortcut else z)
        return self.conv(self.g.op("Concat", *parts, axis=1), (2 + n) * c, c_out)

    def sppf(self, x: str, c_in: int, c_out: int) -> str:
        c = c_in // 2
        y = [self.conv(x, c_in, c)]
        for _ in range(3):
            y.append(self.g.op("MaxPool", y[-1], kernel_shape=[5, 5], strides=[1, 1], pads=[2] * 4))
        return self.conv(self.g.op("Concat", *y, axis=1), 4 * c, c_out)

    def up(self, x: str) -> str:
        return self.g.op("Resize", x, "", self.g.const([1, 1, 2, 2], np.float32), mode="nearest")


def build_yolov8n(size: int = 320) -> tuple[onnx.ModelProto, int]:
    """The graph and its parameter count."""
    net = _Net()
    g = net.g
    x = g.op("Identity", "images")
    p1 = net.conv(x, 3, 16, 3, 2)
    p2 = net.c2f(net.conv(p1, 16, 32, 3, 2), 32, 32, 1, True)
    p3 = net.c2f(net.conv(p2, 32, 64, 3, 2), 64, 64, 2, True)
    p4 = net.c2f(net.conv(p3, 64, 128, 3, 2), 128, 128, 2, True)
    p5 = net.sppf(net.c2f(net.conv(p4, 128, 256, 3, 2), 256, 256, 1, True), 256, 256)
    n4 = net.c2f(g.op("Concat", net.up(p5), p4, axis=1), 384, 128, 1, False)
    out3 = net.c2f(g.op("Concat", net.up(n4), p3, axis=1), 192, 64, 1, False)
    out4 = net.c2f(g.op("Concat", net.conv(out3, 64, 64, 3, 2), n4, axis=1), 192, 128, 1, False)
    out5 = net.c2f(g.op("Concat", net.conv(out4, 128, 128, 3, 2), p5, axis=1), 384, 256, 1, False)

    box_c, cls_c = 64, 80  # max(16, 64 // 4, 4 * REG_MAX), max(64, min(80, 100))
    levels = []
    for feature, channels in ((out3, 64), (out4, 128), (out5, 256)):
        box = net.conv(
            net.conv(net.conv(feature, channels, box_c, 3), box_c, box_c, 3),
            box_c,
            4 * REG_MAX,
            act=False,
        )
        cls = net.conv(
            net.conv(net.conv(feature, channels, cls_c, 3), cls_c, cls_c, 3),
            cls_c,
            CLASS_COUNT,
            act=False,
            bias=-12.0,
        )  # nothing fires
        both = g.op("Concat", box, cls, axis=1)
        levels.append(g.op("Reshape", both, g.const([1, 4 * REG_MAX + CLASS_COUNT, -1], np.int64)))
    table = g.op("Concat", *levels, axis=2)
    box, cls = g.ops(
        "Split", table, g.const([4 * REG_MAX, CLASS_COUNT], np.int64), axis=1, outputs=2
    )
    # DFL: the expectation of a softmax over REG_MAX bins, per side (left, top, right, bottom).
    bins = g.op("Reshape", box, g.const([1, 4, REG_MAX, -1], np.int64))
    soft = g.op("Softmax", g.op("Transpose", bins, perm=[0, 2, 1, 3]), axis=1)
    arange = np.arange(REG_MAX, dtype=np.float32).reshape(1, REG_MAX, 1, 1)
    dist = g.op("Reshape", g.op("Conv", soft, g.const(arange)), g.const([1, 4, -1], np.int64))
    anchors, strides = [], []
    for stride in STRIDES:
        cells = size // stride
        gy, gx = np.meshgrid(np.arange(cells) + 0.5, np.arange(cells) + 0.5, indexing="ij")
        anchors.append(np.stack([gx.ravel(), gy.ravel()]))
        strides.append(np.full(cells * cells, stride))
    anchor = g.const(np.concatenate(anchors, axis=1)[None].astype(np.float32))
    stride_row = g.const(np.concatenate(strides)[None, None].astype(np.float32))
    lt, rb = g.ops("Split", dist, g.const([2, 2], np.int64), axis=1, outputs=2)
    top_left, bottom_right = g.op("Sub", anchor, lt), g.op("Add", anchor, rb)
    centre = g.op("Div", g.op("Add", top_left, bottom_right), g.const(2.0))
    extent = g.op("Sub", bottom_right, top_left)
    boxes = g.op("Mul", g.op("Concat", centre, extent, axis=1), stride_row)
    out = g.op("Concat", boxes, g.op("Sigmoid", cls), axis=1)
    anchors_total = sum((size // s) ** 2 for s in STRIDES)
    model = g.model(
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [(out, "output0", TensorProto.FLOAT, [1, 4 + CLASS_COUNT, anchors_total])],
    )
    return model, net.parameters


def parameter_count(size: int = 320) -> int:
    return build_yolov8n(size)[1]


def write_yolov8n(directory: Path, size: int = 320) -> Path:
    """``yolov8n-<size>.onnx`` and its manifest in ``directory``; returns the model's path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"yolov8n-{size}.onnx"
    if not path.exists():
        model, _ = build_yolov8n(size)
        onnx.save(model, str(path))
    manifest: dict[str, Any] = {
        "format": "yolov8",
        "input": {"width": size, "height": size, "colour": "RGB", "std": [255, 255, 255]},
        "classes": [f"class{i}" for i in range(CLASS_COUNT)],
        "score_threshold": 0.25,
        "nms_threshold": 0.45,
        "sha256": file_sha256(path),
    }
    path.with_suffix(".json").write_text(json.dumps(manifest, indent=2))
    return path


if __name__ == "__main__":
    for side in (320, 640):
        built, count = build_yolov8n(side)
        print(f"{side}x{side}: {count / 1e6:.2f} M parameters, {len(built.graph.node)} nodes")
