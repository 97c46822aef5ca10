"""The image tower of a CLIP/SigLIP model exported to ONNX once, then run by OpenVINO or ONNX
Runtime (faster than eager torch on CPUs: OpenVINO runs bf16 natively where the CPU has it).

The export is made from the user's own ``transformers`` model (``torch.onnx.export`` of
``get_image_features``, a CLIP tower's last layer for the class token alone:
:mod:`momentfinder.encoders.pooled_tower`) and cached on disk under a key of the model's fingerprint
(:mod:`momentfinder.encoders.fingerprint`), the torch and transformers versions and the image
size, so a model is exported once per machine. A manifest records a checksum of every exported
file: a damaged or half-written export is found, removed and exported again. Every failure to
export or load raises :class:`ExportFailed`; the encoder then runs the tower in torch and says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable

import numpy as np

from ..atomic import locked, replacing, write_atomic

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "torch", "openvino", "onnxruntime")
EXPORT_VERSION = 2  # bump when the exported graph changes for the same model (2: class-token last layer)
_ONNX_NAME = "image_tower.onnx"
# OpenVINO's own format with the weights stored in fp16: compiled to bf16 it needs 560 MB instead of
# 900 MB for ViT-B/32 (OpenVINO keeps the fp32 constants of an ONNX file beside its bf16 copy)
_IR_NAME = "image_tower_fp16.xml"
_MANIFEST = "manifest.json"


class ExportFailed(Exception):
    """The exported tower cannot be made or loaded here (the message says why)."""


def available_runtime(runtime: str, precision: str) -> str:
    """The runtime ``runtime`` means here for ``precision`` (``fp32`` | ``bf16``): ``auto`` is
    OpenVINO when installed, else ONNX Runtime for fp32, else torch. Raises :class:`ExportFailed`
    when an explicitly asked runtime is not installed or cannot run ``precision``."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if runtime == "torch":
        return "torch"
    if runtime in ("auto", "openvino") and _importable("openvino"):
        return "openvino"
    if runtime == "openvino":
        raise ExportFailed("openvino is not installed (pip install openvino)")
    if not _importable("onnxruntime"):
        if runtime == "onnxruntime":
            raise ExportFailed("onnxruntime is not installed (pip install onnxruntime)")
        return "torch"
    if precision != "fp32":
        if runtime == "onnxruntime":
            raise ExportFailed(f"onnxruntime runs {precision} no faster than torch; use fp32 or openvino")
        return "torch"
    return "onnxruntime"


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def export_key(fingerprint: str, image_hw: tuple[int, int]) -> str:
    """The cache folder name of one model's export: its weights, the exporting library versions
    and the input size."""
    import torch
    import transformers

    parts = [fingerprint, list(image_hw), torch.__version__, transformers.__version__, EXPORT_VERSION]
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=12).hexdigest()


def _checksums(folder: str) -> dict[str, str]:
    sums = {}
    for name in sorted(os.listdir(folder)):
        full = os.path.join(folder, name)
        if name == _MANIFEST or name.startswith(".") or not os.path.isfile(full):
            continue
        digest = hashlib.blake2b(digest_size=20)
        with open(full, "rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
        sums[name] = digest.hexdigest()
    return sums


def _valid(folder: str) -> bool:
    try:
        with open(os.path.join(folder, _MANIFEST)) as f:
            manifest = json.load(f)
        return bool(manifest.get("files")) and _checksums(folder) == manifest["files"]
    except (OSError, ValueError, AttributeError):
        return False


def exported_tower(
    model: str, fingerprint: str, image_hw: tuple[int, int], export_dir: str, openvino_ir: bool = False
) -> str:
    """The path of ``model``'s exported image tower under ``export_dir``, exporting it first when
    there is no intact one (one process exports; others wait for it).

    The export runs in a child process that loads the model itself: exporting holds the weights
    two or three times over, and that peak stays out of the caller (ingest keeps its memory).
    ``model``: a hub id already in the Hugging Face cache, or a directory. ``openvino_ir``: also
    convert it to OpenVINO's format with fp16 weights (for bf16 inference), returning the folder
    that holds both."""
    folder = os.path.join(export_dir, export_key(fingerprint, image_hw))
    try:
        os.makedirs(folder, exist_ok=True)
        with locked(os.path.join(export_dir, f".{os.path.basename(folder)}.lock")):
            if _valid(folder) and (not openvino_ir or os.path.exists(os.path.join(folder, _IR_NAME))):
                return folder
            if os.listdir(folder):
                log.warning("exported image tower in %s is damaged or incomplete: exporting it again", folder)
                shutil.rmtree(folder)
                os.makedirs(folder)
            _export_in_child(model, image_hw, folder, openvino_ir)
            manifest = {"fingerprint": fingerprint, "image_hw": list(image_hw), "files": _checksums(folder)}
            write_atomic(os.path.join(folder, _MANIFEST), json.dumps(manifest, indent=1).encode())
    except OSError as err:
        raise ExportFailed(f"cannot write the exported model to {folder}: {err}") from None
    return folder


def _export_in_child(model: str, image_hw: tuple[int, int], folder: str, openvino_ir: bool) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    log.info("exporting the image tower to ONNX (once per model) in %s", folder)
    start = time.perf_counter()
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(export_model, model, image_hw, folder, openvino_ir).result()
    except BrokenProcessPool:
        raise ExportFailed("the export process died") from None
    except ExportFailed:
        raise
    except Exception as err:  # noqa: BLE001 - any exporter failure means: run in torch
        raise ExportFailed(f"ONNX export failed: {_first_line(err)}") from None
    log.info("exported in %.0f s", time.perf_counter() - start)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def export_model(model: str, image_hw: tuple[int, int], folder: str, openvino_ir: bool = False) -> None:
    """Load ``model`` (local files only) and write its image tower to ``folder`` as ONNX, and as
    OpenVINO IR with fp16 weights when ``openvino_ir`` (what the export child process runs)."""
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from .pooled_tower import image_tower_module

    hf_logging.set_verbosity_error()  # this process prints nothing (the caller logs the export)
    hf_logging.disable_progress_bar()
    net = AutoModel.from_pretrained(model, local_files_only=True).eval()
    example = torch.zeros(2, 3, *image_hw)
    with replacing(os.path.join(folder, _ONNX_NAME)) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            image_tower_module(net, image_hw),
            (example,),
            tmp,
            input_names=["pixel_values"],
            output_names=["features"],
            dynamic_axes={"pixel_values": {0: "batch"}, "features": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    if openvino_ir:
        import openvino as ov

        ir = ov.Core().read_model(os.path.join(folder, _ONNX_NAME))
        ov.save_model(ir, os.path.join(folder, _IR_NAME), compress_to_fp16=True)


Tower = Callable[[np.ndarray], np.ndarray]


def load_tower(folder: str, runtime: str, precision: str, threads: int | None) -> Tower:
    """The tower exported in ``folder`` as ``pixel_values (n, 3, H, W) float32 -> features (n, dim)``
    (OpenVINO at bf16 reads the fp16 IR, everything else the ONNX file)."""
    path = os.path.join(folder, _IR_NAME if runtime == "openvino" and precision == "bf16" else _ONNX_NAME)
    try:
        if runtime == "openvino":
            return _openvino(path, precision, threads)
        if runtime == "onnxruntime":
            return _onnxruntime(path, threads)
    except Exception as err:  # noqa: BLE001 - a runtime that cannot load it: run in torch
        raise ExportFailed(
            f"{runtime} cannot load {path}: {str(err).strip().splitlines()[0][:200]}"
        ) from None
    raise ValueError(f"no exported runtime {runtime!r}")


MAX_STREAMS = 8  # OpenVINO streams when the thread count is not given (each holds its own buffers)


def _openvino(path: str, precision: str, threads: int | None) -> Tower:
    import openvino as ov

    # one single-threaded stream per thread: a call from one thread splits its batch over every
    # stream; ``run.streams`` are one function per stream, for that many threads to call at once
    # (feature extraction does, beside the decoder thread: bench/ingest.py measures it). One
    # request spread over every thread instead waits at each layer for a thread the decoder holds.
    streams = max(1, int(threads) if threads else min(os.cpu_count() or 1, MAX_STREAMS))
    config = {
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        "PERFORMANCE_HINT": "THROUGHPUT",
        "NUM_STREAMS": streams,
        "INFERENCE_NUM_THREADS": streams,
    }
    compiled = ov.Core().compile_model(path, "CPU", config)
    requests = [(compiled.create_infer_request(), threading.Lock()) for _ in range(streams)]

    def one(request, lock) -> Tower:
        def run(x: np.ndarray) -> np.ndarray:
            with lock:
                return np.array(request.infer({0: x})[0], dtype=np.float32)

        return run

    def run(x: np.ndarray) -> np.ndarray:
        parts = np.array_split(x, max(1, min(len(requests), len(x))))
        used = requests[: len(parts)]
        for _, lock in used:
            lock.acquire()
        try:
            for (request, _), part in zip(used, parts, strict=True):
                request.start_async({0: part})
            outs = []
            for request, _ in used:
                request.wait()
                outs.append(np.array(request.get_output_tensor(0).data, dtype=np.float32))
        finally:
            for _, lock in used:
                lock.release()
        return np.concatenate(outs)

    run.streams = [one(request, lock) for request, lock in requests]
    return run


def _onnxruntime(path: str, threads: int | None) -> Tower:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    # no busy-waiting between batches: the decoder needs those cores
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {"pixel_values": x})[0], dtype=np.float32)

    return run
