"""CLIP and SigLIP image/text encoders over Hugging Face ``transformers``.

Loads any hub id (through the HF cache) or local directory saved with ``save_pretrained``.
Frames arrive already resized by the video stage (``frame_size``), so preprocessing here is a
centre crop and a normalisation in torch — no PIL round trip per frame.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import socket
import threading
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ModelUnavailableError
from .base import DEFAULT_VISUAL_MODEL, PRECISIONS, l2_normalize
from .exported import RUNTIMES, ExportFailed, available_runtime, exported_tower, load_tower
from .fingerprint import model_fingerprint

log = logging.getLogger(__name__)

SUPPORTED_MODEL_TYPES = ("clip", "siglip", "siglip2")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face endpoint answers a TCP connect within ``timeout`` seconds.

    ``huggingface_hub`` retries for ~25 s before giving up offline; this answers in seconds.
    """
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout + 1.0)
    return bool(result and result[0])


def _is_cached(model_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model_id, "config.json")
    except ValueError:  # not a valid repo id
        return False
    return isinstance(found, str)


def check_loadable(model: str, what: str, option: str) -> bool:
    """True when ``model`` (a hub id or a directory) must load from local files only; raises
    :class:`ModelUnavailableError` with one line when it cannot load at all (``what``: "visual
    model"; ``option``: the flag that names another)."""
    if os.path.isdir(model):
        return True
    if os.path.sep in model and not os.path.exists(model) and model.count("/") != 1:
        raise ModelUnavailableError(f"cannot load {what} {model!r}: no such directory")
    if _is_cached(model):
        return True
    if not hub_reachable():
        raise ModelUnavailableError(
            f"cannot load {what} {model!r}: it is not in the Hugging Face cache and the hub "
            f"cannot be reached (offline); download it once on a connected machine or pass a local "
            f"directory to {option}"
        )
    return False


def load_typed_model(model: str, model_type: str, model_class, what: str, option: str, takes: str):
    """``(config, network, processor)`` of a hub id or directory whose config says ``model_type``
    (``model_class.from_pretrained``; the processor through ``AutoProcessor``); one-line
    :class:`ModelUnavailableError` when it cannot load or is another kind of model (``takes``:
    what ``option`` accepts, for the message)."""
    from transformers import AutoConfig, AutoProcessor

    local_only = check_loadable(model, what, option)
    try:
        config = AutoConfig.from_pretrained(model, local_files_only=local_only)
        found = getattr(config, "model_type", "") or "unknown"
        if found != model_type:
            raise ModelUnavailableError(f"{what} {model!r} is a {found!r} model; {option} takes {takes}")
        net = model_class.from_pretrained(model, local_files_only=local_only)
        processor = AutoProcessor.from_pretrained(model, local_files_only=local_only)
    except (OSError, ValueError, KeyError) as err:
        raise ModelUnavailableError(f"cannot load {what} {model!r}: {_first_line(err)}") from None
    return config, net, processor


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` → fp16 on CUDA, bf16 on CPUs with native bf16 (AVX512-BF16/AMX), else fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        return "fp16"
    if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported():
        return "bf16"
    return "fp32"


@dataclass(frozen=True)
class ImagePreprocessing:
    """What the model's image processor asks for, reduced to the steps we run in torch."""

    frame_size: int | tuple[int, int]  # short side, or exact (width, height)
    crop: tuple[int, int] | None  # (height, width) centre crop, or None
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_image_processor(cls, proc) -> ImagePreprocessing:
        size = _as_dict(getattr(proc, "size", None))
        crop = _as_dict(getattr(proc, "crop_size", None)) if getattr(proc, "do_center_crop", False) else None
        if "shortest_edge" in size:
            frame_size: int | tuple[int, int] = int(size["shortest_edge"])
        elif "height" in size and "width" in size:
            frame_size = (int(size["width"]), int(size["height"]))
        else:
            frame_size = 224
        crop_hw = (int(crop["height"]), int(crop["width"])) if crop else None
        if crop_hw is None and isinstance(frame_size, int):
            crop_hw = (frame_size, frame_size)
        mean = tuple(float(x) for x in (getattr(proc, "image_mean", None) or (0.5, 0.5, 0.5)))
        std = tuple(float(x) for x in (getattr(proc, "image_std", None) or (0.5, 0.5, 0.5)))
        return cls(frame_size=frame_size, crop=crop_hw, mean=mean, std=std)


def _as_dict(value) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, int):
        return {"shortest_edge": value}
    return {k: getattr(value, k) for k in ("shortest_edge", "height", "width") if getattr(value, k, None)}


def center_crop(image: np.ndarray, crop: tuple[int, int] | None) -> np.ndarray:
    """Centre crop ``(H, W, C)`` to ``crop = (height, width)``; pads by edge replication if smaller."""
    if crop is None:
        return image
    ch, cw = crop
    h, w = image.shape[:2]
    if h < ch or w < cw:
        image = np.pad(image, ((0, max(0, ch - h)), (0, max(0, cw - w)), (0, 0)), mode="edge")
        h, w = image.shape[:2]
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[top : top + ch, left : left + cw]


def _pooled(out) -> torch.Tensor:
    """``get_*_features`` returns a tensor (transformers 4) or an output object (transformers 5)."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class HFVisionTextEncoder:
    """A CLIP or SigLIP model from the hub or a local directory.

    ``precision``: ``auto`` | ``fp32`` | ``bf16`` | ``fp16`` (CUDA) | ``int8`` (dynamic
    quantisation of the linear layers, CPU). ``threads`` sets torch's intra-op threads.

    ``runtime``: what runs the image tower on the CPU at fp32/bf16: ``torch``, or the tower
    exported to ONNX once (cached under ``export_dir``, see :mod:`momentfinder.encoders.exported`)
    and run by ``openvino`` or ``onnxruntime``; ``auto`` picks the fastest installed one (torch
    without an ``export_dir``). A tower that cannot be exported or loaded runs in torch, with a
    warning saying why. ``runtime`` (the attribute) says what runs it.
    """

    def __init__(
        self,
        model: str = DEFAULT_VISUAL_MODEL,
        device: str | None = None,
        precision: str = "auto",
        batch_size: int = 32,
        threads: int | None = None,
        runtime: str = "auto",
        export_dir: str | None = None,
    ):
        from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoTokenizer

        # a directory by its absolute path: the name recorded with features and calibrations
        self.name = os.path.abspath(model) if os.path.isdir(model) else model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.precision = resolve_precision(precision, self.device)
        self.batch_size = batch_size
        if threads:
            torch.set_num_threads(threads)
        local_only = self._check_loadable(model)
        try:
            config = AutoConfig.from_pretrained(model, local_files_only=local_only)
            model_type = getattr(config, "model_type", "")
            if model_type not in SUPPORTED_MODEL_TYPES:
                raise ModelUnavailableError(
                    f"visual model {model!r} is a {model_type or 'unknown'!r} model; "
                    f"momentfinder needs an image-text model ({', '.join(SUPPORTED_MODEL_TYPES)})"
                )
            net = AutoModel.from_pretrained(model, local_files_only=local_only)
            self._tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=local_only)
            image_processor = AutoImageProcessor.from_pretrained(model, local_files_only=local_only)
        except (OSError, ValueError, KeyError) as err:
            raise ModelUnavailableError(f"cannot load visual model {model!r}: {_first_line(err)}") from None
        self.model_type = model_type
        self.preprocessing = ImagePreprocessing.from_image_processor(image_processor)
        self.frame_size = self.preprocessing.frame_size
        self._net = self._prepare(net.eval())
        self.dim = int(self._embed_dim(net))
        self._mean = torch.tensor(self.preprocessing.mean).view(1, 3, 1, 1)
        self._std = torch.tensor(self.preprocessing.std).view(1, 3, 1, 1)
        self._max_text_len = int(getattr(net.config.text_config, "max_position_embeddings", 77))
        # after loading: a hub model is in the cache now, so its snapshot commit is known
        self.fingerprint = model_fingerprint(model)
        self._source = model
        self.runtime = "torch"
        self._tower = None
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
        if self.device == "cpu" and self.precision in ("fp32", "bf16") and runtime != "torch":
            self._use_exported(runtime, export_dir, threads)

    def _use_exported(self, runtime: str, export_dir: str | None, threads: int | None) -> None:
        """Run the image tower exported (OpenVINO / ONNX Runtime) when that works here; free the
        torch copy of its weights then."""
        try:
            chosen = available_runtime(runtime, self.precision)
            if chosen == "torch" or (export_dir is None and runtime == "auto"):
                return
            if export_dir is None:
                raise ExportFailed("no directory to keep the exported model in")
            crop = self.preprocessing.crop
            size = self.preprocessing.frame_size
            image_hw = (
                crop if crop is not None else (size[1], size[0]) if isinstance(size, tuple) else (size, size)
            )
            ir = chosen == "openvino" and self.precision == "bf16"
            folder = exported_tower(self._source, self.fingerprint, image_hw, export_dir, openvino_ir=ir)
            self._tower = load_tower(folder, chosen, self.precision, threads)
        except ExportFailed as err:
            log.warning("image tower runs in torch: %s", err)
            return
        self.runtime = chosen
        self._net.vision_model = None  # the text tower stays for queries
        if hasattr(self._net, "visual_projection"):
            self._net.visual_projection = None
        gc.collect()

    @staticmethod
    def _check_loadable(model: str) -> bool:
        return check_loadable(model, "visual model", "--visual-model")

    @staticmethod
    def _embed_dim(net) -> int:
        cfg = net.config
        return getattr(cfg, "projection_dim", None) or cfg.text_config.hidden_size

    def _prepare(self, net):
        if self.precision == "int8":
            if self.device != "cpu":
                raise ModelUnavailableError("int8 precision runs on the CPU only; use fp16 on CUDA")
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # in place: a copy would hold the fp32 and the int8 weights at once (+600 MB for ViT-B/32)
                torch.ao.quantization.quantize_dynamic(
                    net, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
                )
            gc.collect()
        return net.to(self.device)

    def _autocast(self):
        if self.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            return torch.autocast(
                device_type="cuda" if self.device.startswith("cuda") else "cpu", dtype=dtype
            )
        return torch.autocast(device_type="cpu", enabled=False)

    def pixel_values(self, images: list[np.ndarray]) -> torch.Tensor:
        """RGB uint8 frames (already resized to ``frame_size``) → normalised ``(n, 3, H, W)`` float32."""
        batch = np.stack([center_crop(img, self.preprocessing.crop) for img in images])
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)
        return (x - self._mean) / self._std

    def encode_images(self, images: list[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._tower is not None:
            return self._encode_exported(self._tower, images)
        outs = []
        with torch.inference_mode(), self._autocast():
            for i in range(0, len(images), self.batch_size):
                x = self.pixel_values(images[i : i + self.batch_size]).to(self.device)
                outs.append(_pooled(self._net.get_image_features(pixel_values=x)).float().cpu().numpy())
        return l2_normalize(np.concatenate(outs))

    def _encode_exported(self, tower, images: list[np.ndarray]) -> np.ndarray:
        outs = [
            tower(self.pixel_values(images[i : i + self.batch_size]).numpy())
            for i in range(0, len(images), self.batch_size)
        ]
        return l2_normalize(np.concatenate(outs))

    def image_encoders(self) -> list:
        """Functions like :meth:`encode_images` that may run at the same time, one per thread: one
        per OpenVINO stream of the exported tower (each stream runs one thread), else
        ``[encode_images]``. Feature extraction encodes with all of them beside the decoder."""
        streams = getattr(self._tower, "streams", None)
        if not streams or len(streams) < 2:
            return [self.encode_images]
        return [functools.partial(self._encode_exported, tower) for tower in streams]

    def _tokenize(self, texts: list[str]) -> dict:
        padding = "max_length" if self.model_type.startswith("siglip") else True
        enc = self._tokenizer(
            texts, padding=padding, truncation=True, max_length=self._max_text_len, return_tensors="pt"
        )
        return {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode(), self._autocast():
            out = self._net.get_text_features(**self._tokenize(list(texts)))
        return l2_normalize(_pooled(out).float().cpu().numpy())

    def encode_query(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Pooled sentence embedding and per-token embeddings projected into the joint space."""
        enc = self._tokenize([text])
        with torch.inference_mode(), self._autocast():
            pooled = _pooled(self._net.get_text_features(**enc)).float()
            hidden = self._net.text_model(**enc).last_hidden_state
            tokens = self._project_tokens(hidden).float()
        mask = enc["attention_mask"][0].bool() if "attention_mask" in enc else slice(None)
        return l2_normalize(pooled[0].cpu().numpy()), l2_normalize(tokens[0][mask].cpu().numpy())

    def _project_tokens(self, hidden: torch.Tensor) -> torch.Tensor:
        if hasattr(self._net, "text_projection"):  # CLIP: the same projection as the pooled token
            return self._net.text_projection(hidden)
        head = getattr(self._net.text_model, "head", None)  # SigLIP: the pooled head, per token
        return head(hidden) if head is not None else hidden
