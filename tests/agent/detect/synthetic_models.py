"""Small ONNX detectors built with onnx.helper that find coloured figures for real.

Nothing is downloaded: each graph computes, with ordinary ONNX ops that run
in onnxruntime, where pixels of each class's colour are, and emits boxes in
one of the layouts the agent reads (YOLOv5, YOLOv8, YOLOX, NanoDet, SSD, NMS in
the graph). How it finds a figure, per anchor point of a stride-8/16/32 grid:

- colour evidence per pixel and class: 1 - (distance to the class colour / tau)^2;
- sums of evidence, evidence * x, * y, * x^2, * y^2 over a window centred on
  the anchor (AveragePool), giving the figure's centroid and, from the second
  moments of a uniform rectangle (var = w^2 / 12), its width and height;
- an objectness that is 1 only when the anchor lies inside the measured box
  and enough pixels were found (like a trained detector's positive anchors),
  times the colour purity; class scores are each class's share of the evidence.

Windows are 2 x max_figure + 8 pixels wide, so a window whose anchor is inside
a figure holds all of it, and every positive anchor of a figure yields the
same box: NMS must merge them. Figures of one frame must be at least
max_figure + 4 input pixels apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from agent.detect.model import file_sha256

__all__ = ["ColourClass", "GraphBuilder", "build_colour_detector", "manifest_for", "write_model"]

OPSET = 17


@dataclass(frozen=True)
class ColourClass:
    name: str
    bgr: tuple[int, int, int]


class GraphBuilder:
    """A thin helper around onnx.helper: named constants and nodes with fresh names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: Any, dtype: Any = np.float32, hint: str = "c") -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        (name,) = self.ops(op_type, *inputs, outputs=1, **attrs)
        return name

    def ops(self, op_type: str, *inputs: str, outputs: int, **attrs: Any) -> list[str]:
        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))
        return names

    def model(
        self,
        inputs: list[onnx.ValueInfoProto],
        outputs: list[tuple[str, str, int, list[Any]]],
    ) -> onnx.ModelProto:
        """``outputs``: (internal name, public name, element type, shape)."""
        for internal, public, _, _ in outputs:
            self.nodes.append(helper.make_node("Identity", [internal], [public]))
        graph = helper.make_graph(
            self.nodes,
            "colour_detector",
            inputs,
            [helper.make_tensor_value_info(p, t, s) for _, p, t, s in outputs],
            initializer=self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def _rgb_input(g: GraphBuilder, spec: dict[str, Any]) -> str:
    """The model input turned back into RGB pixels 0..255, NCHW, float."""
    x = "images"
    if spec["layout"] == "NHWC":
        x = g.op("Transpose", x, perm=[0, 3, 1, 2])
    if spec["dtype"] == "uint8":
        x = g.op("Cast", x, to=TensorProto.FLOAT)
    else:
        std = g.const(np.array(spec["std"]).reshape(1, 3, 1, 1))
        mean = g.const(np.array(spec["mean"]).reshape(1, 3, 1, 1))
        x = g.op("Add", g.op("Mul", x, std), mean)
    if spec["colour"] == "BGR":
        x = g.op("Gather", x, g.const([2, 1, 0], np.int64), axis=1)
    return x


def build_colour_detector(
    fmt: str,
    classes: list[ColourClass],
    *,
    width: int = 320,
    height: int = 320,
    layout: str = "NCHW",
    colour: str = "RGB",
    dtype: str = "float32",
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
    std: tuple[float, float, float] = (255.0, 255.0, 255.0),
    strides: tuple[int, ...] = (8, 16, 32),
    max_figure: int = 40,
    tau: float = 80.0,
    min_pixels: float = 40.0,
    reg_max: int = 7,
    nms_layout: str = "single",
    extra_classes: int = 0,
    backbone: list[int] | None = None,
) -> onnx.ModelProto:
    """A detector of ``classes`` (and ``extra_classes`` that never fire) in layout ``fmt``.

    ``backbone``: channel widths of a stride-2 conv stack whose output feeds the
    extra classes' logits, so that the graph costs what a real detector costs.
    """
    spec = {"layout": layout, "dtype": dtype, "mean": mean, "std": std, "colour": colour}
    g = GraphBuilder()
    n_cls = len(classes)
    x = _rgb_input(g, spec)

    # Evidence per class [1, C, H, W] and the moment maps.
    # |x - c|^2 = |x|^2 - 2 x.c + |c|^2, with x.c as a 1x1 convolution.
    rgb = np.array([c.bgr[::-1] for c in classes], dtype=np.float32)
    squares = g.op("ReduceSum", g.op("Mul", x, x), g.const([1], np.int64), keepdims=1)
    dots = g.op("Conv", x, g.const(-2 * rgb.reshape(n_cls, 3, 1, 1)), g.const((rgb**2).sum(axis=1)))
    d2 = g.op("Add", squares, dots)
    evidence = g.op("Relu", g.op("Sub", g.const(1.0), g.op("Mul", d2, g.const(1 / tau**2))))
    total = g.op("ReduceSum", evidence, g.const([1], np.int64), keepdims=1)
    xs = (np.arange(width, dtype=np.float32) + 0.5).reshape(1, 1, 1, width)
    ys = (np.arange(height, dtype=np.float32) + 0.5).reshape(1, 1, height, 1)
    ex = g.op("Mul", total, g.const(xs))
    ey = g.op("Mul", total, g.const(ys))
    stack = g.op(
        "Concat",
        evidence,
        ex,
        ey,
        g.op("Mul", ex, g.const(xs)),
        g.op("Mul", ey, g.const(ys)),
        total,
        axis=1,
    )

    # Window sums per stride from an integral image (cumulative sums, in double so
    # that moments of large coordinates keep their precision): [1, C + 5, N].
    k = 2 * max_figure + 8
    half = k // 2
    padded = g.op(
        "Pad",
        g.op("Cast", stack, to=TensorProto.DOUBLE),
        g.const([0, 0, half, half, 0, 0, half, half], np.int64),
    )
    integral = g.op(
        "CumSum",
        g.op("CumSum", padded, g.const(2, np.int64), exclusive=1),
        g.const(3, np.int64),
        exclusive=1,
    )
    pooled, anchor_x, anchor_y, anchor_s = [], [], [], []
    for s in strides:
        # Anchor j*s covers padded rows/columns [j*s, j*s + k).
        def window(lo_y: int, lo_x: int, s: int = s) -> str:
            return g.op(
                "Slice",
                integral,
                g.const([lo_y, lo_x], np.int64),
                g.const([lo_y + height, lo_x + width], np.int64),
                g.const([2, 3], np.int64),
                g.const([s, s], np.int64),
            )

        box_sum = g.op(
            "Add",
            g.op("Sub", window(k, k), window(0, k)),
            g.op("Sub", window(0, 0), window(k, 0)),
        )
        box_sum = g.op("Cast", box_sum, to=TensorProto.FLOAT)
        pooled.append(g.op("Reshape", box_sum, g.const([1, n_cls + 5, -1], np.int64)))
        gy, gx = np.meshgrid(np.arange(height // s), np.arange(width // s), indexing="ij")
        anchor_x.append(gx.ravel() * s)
        anchor_y.append(gy.ravel() * s)
        anchor_s.append(np.full(gx.size, s))
    sums = g.op("Concat", *pooled, axis=2)
    per_class, mx, my, mxx, myy, m0 = g.ops(
        "Split", sums, g.const([n_cls, 1, 1, 1, 1, 1], np.int64), axis=1, outputs=6
    )

    def row(values: list[Any]) -> str:
        return g.const(np.concatenate(values).reshape(1, 1, -1))

    ax, ay, stride = row(anchor_x), row(anchor_y), row(anchor_s)
    inv = g.op("Reciprocal", g.op("Add", m0, g.const(1e-6)))
    cx = g.op("Mul", mx, inv)
    cy = g.op("Mul", my, inv)
    var_x = g.op("Sub", g.op("Mul", mxx, inv), g.op("Mul", cx, cx))
    var_y = g.op("Sub", g.op("Mul", myy, inv), g.op("Mul", cy, cy))
    w = g.op("Sqrt", g.op("Relu", g.op("Mul", var_x, g.const(12.0))))
    h = g.op("Sqrt", g.op("Relu", g.op("Mul", var_y, g.const(12.0))))
    half_w, half_h = g.op("Mul", w, g.const(0.5)), g.op("Mul", h, g.const(0.5))
    x1, x2 = g.op("Sub", cx, half_w), g.op("Add", cx, half_w)
    y1, y2 = g.op("Sub", cy, half_h), g.op("Add", cy, half_h)

    inside = g.op(
        "And",
        g.op("And", g.op("Greater", ax, x1), g.op("Less", ax, x2)),
        g.op("And", g.op("Greater", ay, y1), g.op("Less", ay, y2)),
    )
    count = m0
    presence = g.op("Min", g.op("Mul", count, g.const(1 / min_pixels)), g.const(1.0))
    purity = g.op(
        "Min", g.op("Div", count, g.op("Add", g.op("Mul", w, h), g.const(1e-6))), g.const(1.0)
    )
    objectness = g.op(
        "Mul", g.op("Mul", g.op("Cast", inside, to=TensorProto.FLOAT), presence), purity
    )
    share = g.op("Mul", per_class, inv)  # [1, C, N]
    if extra_classes:
        share = g.op("Concat", share, _extra_scores(g, x, extra_classes, backbone, ax), axis=1)
    scores = g.op("Mul", share, objectness)
    total_classes = n_cls + extra_classes
    n = int(sum(len(a) for a in anchor_x))

    image_input = helper.make_tensor_value_info(
        "images",
        TensorProto.UINT8 if dtype == "uint8" else TensorProto.FLOAT,
        [1, 3, height, width] if layout == "NCHW" else [1, height, width, 3],
    )
    f32 = TensorProto.FLOAT
    if fmt == "yolov8":
        out = g.op("Concat", cx, cy, w, h, scores, axis=1)
        return g.model([image_input], [(out, "output0", f32, [1, 4 + total_classes, n])])
    if fmt in ("yolov5", "yolox"):
        if fmt == "yolox":
            inv_s = g.op("Reciprocal", stride)
            cx = g.op("Sub", g.op("Mul", cx, inv_s), g.op("Mul", ax, inv_s))
            cy = g.op("Sub", g.op("Mul", cy, inv_s), g.op("Mul", ay, inv_s))
            w = g.op("Log", g.op("Add", g.op("Mul", w, inv_s), g.const(1e-6)))
            h = g.op("Log", g.op("Add", g.op("Mul", h, inv_s), g.const(1e-6)))
        table = g.op("Concat", cx, cy, w, h, objectness, share, axis=1)
        out = g.op("Transpose", table, perm=[0, 2, 1])
        return g.model([image_input], [(out, "output", f32, [1, n, 5 + total_classes])])
    if fmt == "nanodet":
        inv_s = g.op("Reciprocal", stride)
        sides = [g.op("Sub", ax, x1), g.op("Sub", ay, y1), g.op("Sub", x2, ax), g.op("Sub", y2, ay)]
        distance = g.op(
            "Clip",
            g.op("Mul", g.op("Concat", *sides, axis=1), inv_s),
            g.const(0.0),
            g.const(float(reg_max)),
        )
        bins = g.const(np.arange(reg_max + 1, dtype=np.float32))
        near = g.op("Abs", g.op("Sub", g.op("Unsqueeze", distance, g.const([3], np.int64)), bins))
        logits = g.op(
            "Log", g.op("Add", g.op("Relu", g.op("Sub", g.const(1.0), near)), g.const(1e-6))
        )
        logits = g.op(
            "Reshape", g.op("Transpose", logits, perm=[0, 2, 1, 3]), g.const([1, n, -1], np.int64)
        )
        out = g.op("Concat", g.op("Transpose", scores, perm=[0, 2, 1]), logits, axis=2)
        width_out = total_classes + 4 * (reg_max + 1)
        return g.model([image_input], [(out, "output", f32, [1, n, width_out])])
    if fmt == "centerface":  # one class, one stride: heat, log-sizes (h, w), offsets (y, x)
        s = strides[0]
        grid = g.const([1, -1, height // s, width // s], np.int64)
        inv_s = g.const(1 / s)
        sizes = g.op(
            "Log", g.op("Add", g.op("Mul", g.op("Concat", h, w, axis=1), inv_s), g.const(1e-6))
        )
        offsets = g.op(
            "Sub",
            g.op("Mul", g.op("Concat", g.op("Sub", cy, ay), g.op("Sub", cx, ax), axis=1), inv_s),
            g.const(0.5),
        )
        landmarks = g.op("Mul", g.op("Concat", *([w] * 10), axis=1), g.const(0.0))
        grid_shape = [1, height // s, width // s]
        return g.model(
            [image_input],
            [
                (g.op("Reshape", scores, grid), "537", f32, [1, 1, *grid_shape[1:]]),
                (g.op("Reshape", sizes, grid), "538", f32, [1, 2, *grid_shape[1:]]),
                (g.op("Reshape", offsets, grid), "539", f32, [1, 2, *grid_shape[1:]]),
                (g.op("Reshape", landmarks, grid), "540", f32, [1, 10, *grid_shape[1:]]),
            ],
        )
    boxes_xyxy = g.op("Transpose", g.op("Concat", x1, y1, x2, y2, axis=1), perm=[0, 2, 1])
    if fmt == "ssd":
        norm = g.const(np.array([1 / height, 1 / width, 1 / height, 1 / width]).reshape(1, 4, 1))
        yxyx = g.op(
            "Transpose", g.op("Mul", g.op("Concat", y1, x1, y2, x2, axis=1), norm), perm=[0, 2, 1]
        )
        best = g.op("ReduceMax", scores, axes=[1], keepdims=1)
        with_bg = g.op("Concat", g.op("Sub", g.const(1.0), best), scores, axis=1)
        out_scores = g.op("Transpose", with_bg, perm=[0, 2, 1])
        return g.model(
            [image_input],
            [
                (yxyx, "boxes", f32, [1, n, 4]),
                (out_scores, "scores", f32, [1, n, total_classes + 1]),
            ],
        )
    if fmt == "nms":
        selected = g.op(
            "NonMaxSuppression",
            boxes_xyxy,
            scores,
            g.const([50], np.int64),
            g.const([0.45]),
            g.const([0.3]),
        )
        box_index = g.op("Gather", selected, g.const(2, np.int64), axis=1)
        class_index = g.op("Gather", selected, g.const(1, np.int64), axis=1)
        picked = g.op(
            "Gather", g.op("Squeeze", boxes_xyxy, g.const([0], np.int64)), box_index, axis=0
        )
        picked_scores = g.op("GatherND", scores, selected)
        classes_f = g.op("Cast", class_index, to=TensorProto.FLOAT)
        one = g.const([1], np.int64)
        zero = g.const([0], np.int64)
        if nms_layout == "single":
            table = g.op(
                "Concat",
                picked,
                g.op("Unsqueeze", picked_scores, one),
                g.op("Unsqueeze", classes_f, one),
                axis=1,
            )
            out = g.op("Unsqueeze", table, zero)
            return g.model([image_input], [(out, "output0", f32, [1, "K", 6])])
        count = g.op("Reshape", g.op("Shape", box_index), g.const([1, 1], np.int64))
        return g.model(
            [image_input],
            [
                (count, "num_dets", TensorProto.INT64, [1, 1]),
                (g.op("Unsqueeze", picked, zero), "det_boxes", f32, [1, "K", 4]),
                (g.op("Unsqueeze", picked_scores, zero), "det_scores", f32, [1, "K"]),
                (g.op("Unsqueeze", class_index, zero), "det_classes", TensorProto.INT64, [1, "K"]),
            ],
        )
    raise ValueError(f"unknown format {fmt!r}")


def _extra_scores(
    g: GraphBuilder, x: str, extra: int, backbone: list[int] | None, anchors: str
) -> str:
    """Scores [1, extra, N] of classes that never fire, optionally fed by a conv stack."""
    logit = g.const(-12.0)
    if backbone:
        rng = np.random.default_rng(7)
        features, channels = g.op("Mul", x, g.const(1 / 255)), 3
        for index, width in enumerate(backbone):
            weight = rng.normal(0, (2 / (9 * channels)) ** 0.5, (width, channels, 3, 3))
            stride = 2 if index % 2 == 0 else 1
            features = g.op(
                "Conv",
                features,
                g.const(weight),
                g.const(np.zeros(width)),
                kernel_shape=[3, 3],
                pads=[1, 1, 1, 1],
                strides=[stride, stride],
            )
            features = g.op("Relu", features)
            channels = width
        pooled = g.op("ReduceMean", features, axes=[1, 2, 3], keepdims=0)
        logit = g.op("Add", logit, g.op("Mul", pooled, g.const(1e-3)))
    ones = g.op("Mul", g.op("Mul", anchors, g.const(0.0)), g.const(1.0))  # [1, 1, N] of zeros
    shape = g.op(
        "Concat",
        g.const([1, extra], np.int64),
        g.op("Slice", g.op("Shape", ones), g.const([2], np.int64), g.const([3], np.int64)),
        axis=0,
    )
    return g.op("Sigmoid", g.op("Expand", g.op("Add", ones, logit), shape))


def manifest_for(
    fmt: str,
    classes: list[ColourClass],
    *,
    width: int = 320,
    height: int = 320,
    extra_classes: int = 0,
    **input_overrides: Any,
) -> dict[str, Any]:
    names = [c.name for c in classes] + [f"extra{i}" for i in range(extra_classes)]
    manifest: dict[str, Any] = {
        "format": fmt,
        "input": {"width": width, "height": height, **input_overrides},
        "classes": names,
        "score_threshold": 0.5,
        "nms_threshold": 0.45,
    }
    if fmt == "ssd":
        manifest["boxes"] = {"order": "yxyx", "normalized": True}
        manifest["background_class"] = True
    return manifest


def write_model(
    directory: Path,
    name: str,
    model: onnx.ModelProto,
    manifest: dict[str, Any],
    *,
    sha: bool = True,
) -> Path:
    """Write ``name.onnx`` and its ``name.json`` manifest (with the file's sha256)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.onnx"
    onnx.save(model, str(path))
    if sha:
        manifest = {**manifest, "sha256": file_sha256(path)}
    path.with_suffix(".json").write_text(json.dumps(manifest, indent=2))
    return path
