"""Creating the onnxruntime session: providers from config, options for a small CPU.

On a Pi-class CPU the fastest set-up is a fixed number of intra-op threads
(one per big core; more threads only add contention), sequential execution
(detector graphs are chains, so inter-op parallelism buys nothing) and full
graph optimisation. For a box's memory and its other work: the CPU arena
stays (without it every large activation is a fresh mapping: 2.4x the CPU
time per inference in page faults) but the memory pattern goes (it plans one
block for a whole run on top of the arena: 7 MiB more resident for YOLOv8n at
320x320, no faster; docs/budget.md), and worker threads sleep rather than
spin between inferences (a spinning pool burns the CPU that capture and
uploads need, and a CPU quota's budget). On a Jetson, TensorRT and CUDA come first when the
installed onnxruntime has them; CPU is always the last resort.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

__all__ = ["SessionSettings", "open_session", "resolve_providers"]

log = logging.getLogger(__name__)

ProviderSpec = str | tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """What the session needs from the detect config."""

    threads: int = 2
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    trt_cache_dir: Path | None = None
    trt_fp16: bool = True


def resolve_providers(settings: SessionSettings) -> list[ProviderSpec]:
    """The requested providers this onnxruntime build has, with options; CPU last."""
    available = set(ort.get_available_providers())
    chosen: list[ProviderSpec] = []
    for name in settings.providers:
        if name not in available:
            log.warning(
                "onnxruntime execution provider %s is not available in this build (available: %s); skipping it",
                name,
                ", ".join(sorted(available)),
            )
            continue
        if name == "TensorrtExecutionProvider":
            options: dict[str, Any] = {"trt_fp16_enable": settings.trt_fp16}
            if settings.trt_cache_dir is not None:
                settings.trt_cache_dir.mkdir(parents=True, exist_ok=True)
                # Building an engine takes minutes on a Jetson: cache it across restarts.
                options |= {
                    "trt_engine_cache_enable": True,
                    "trt_engine_cache_path": str(settings.trt_cache_dir),
                    "trt_timing_cache_enable": True,
                }
            chosen.append((name, options))
        elif name == "CUDAExecutionProvider":
            # Exhaustive cuDNN search makes the first inferences very slow on small GPUs.
            chosen.append((name, {"cudnn_conv_algo_search": "HEURISTIC"}))
        else:
            chosen.append(name)
    if "CPUExecutionProvider" not in [c if isinstance(c, str) else c[0] for c in chosen]:
        chosen.append("CPUExecutionProvider")
    return chosen


def open_session(path: Path, settings: SessionSettings) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: warnings about unused initialisers are noise
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(
        str(path), sess_options=options, providers=resolve_providers(settings)
    )
