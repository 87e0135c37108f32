"""One case as the model reads it: an image and a record -> tensors on the model's device, the image sent once.

``prepare_case`` preprocesses the image (on the model's GPU when it has one: milliseconds there, ~0.2 s of scipy
on the CPU, same numbers) and encodes the record; ``case_tensors`` and ``model_inputs`` hand the result to a model.
The image stays where it was preprocessed: a GPU case is copied to the host only when someone reads
``CaseInputs.image`` (a figure, a check), never on the way from Predict to Explain.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from engine.ehr_text import TextEncoding, encode_for_model
from engine.imageio import Volume
from engine.preprocess import GridMapping, preprocess
from engine.preprocess_torch import preprocess_on


def indexed(device: torch.device | str) -> torch.device:
    """``cuda`` -> ``cuda:N``, the current GPU: a tensor's device is always indexed, and ``cuda`` != ``cuda:0``
    in the checks that reuse an image already on the GPU. Other devices are returned as they are."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


class CaseInputs:
    """A case ready for the model: image (S, S, S) in [0, 1], its grid mapping and the encoded record.

    Give ``image`` (a NumPy array), ``device_image`` (a tensor on some device) or both; ``image`` is then filled
    from ``device_image`` the first time it is read.
    """

    def __init__(self, volume: Volume, image: np.ndarray | None, mapping: GridMapping, text: TextEncoding | None,
                 ehr: dict[str, Any], device_image: torch.Tensor | None = None) -> None:
        if image is None and device_image is None:
            raise ValueError("a case needs its preprocessed image (image or device_image)")
        self.volume, self.mapping, self.text, self.ehr = volume, mapping, text, ehr
        self._image = image
        #: the image as a tensor on the device it was preprocessed on (or last sent to)
        self.device_image = device_image

    @property
    def image(self) -> np.ndarray:
        """(S, S, S) float32 on the host; a GPU case is copied down once, when this is first read."""
        if self._image is None:
            self._image = self.device_image.detach().cpu().numpy()
        return self._image

    def __repr__(self) -> str:
        return f"CaseInputs({self.volume.path!r}, grid {self.mapping.image_size}^3)"


def prepare_case(volume: Volume, ehr: dict[str, Any], cfg, tokenizer, device: torch.device | str = "cpu",
                 exclude_parts: Sequence[str] = ()) -> CaseInputs:
    """Preprocess ``volume`` to the model grid of ``cfg`` on ``device`` and encode the (already validated)
    record ``ehr``, leaving out ``exclude_parts`` (a model trained without some record parts reads the text it
    was trained on)."""
    device = indexed(device)
    if device.type == "cuda":
        pixels, mapping = preprocess_on(volume, cfg.image_size, device)
        arr = None
    else:
        arr, mapping = preprocess(volume, cfg.image_size)
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        pixels = torch.from_numpy(arr).to(device)  # on the CPU the same memory, no copy
    text = encode_for_model(ehr, tokenizer, cfg, tuple(exclude_parts))
    return CaseInputs(volume, arr, mapping, text, ehr, pixels)


def _image_on(case: CaseInputs, device: torch.device) -> torch.Tensor:
    """(S, S, S) on ``device``: the case's tensor if it is there already, else sent once and kept."""
    if case.device_image is None or case.device_image.device != device:
        case.device_image = torch.from_numpy(np.ascontiguousarray(case.image, dtype=np.float32)).to(device)
    return case.device_image


def case_tensors(case: CaseInputs, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """image (1, S, S, S), ids (1, L), mask (1, L) on ``device``."""
    device = indexed(device)
    return (_image_on(case, device)[None], case.text.input_ids[None].to(device),
            case.text.attention_mask[None].to(device))


def case_scores(case: CaseInputs, device: torch.device | str) -> torch.Tensor:
    """(1, F) the record's scores as numbers (NaN = missing) on ``device``; read by a model with
    ``config.score_knots`` > 0, ignored by the others."""
    return case.text.scores[None].to(indexed(device))


@dataclass
class ModelInputs:
    """One case as tensors on the model's device: img (1,S,S,S) | None, ids/mask (1,L) | None, scores (1,F) | None
    (the record's scores as numbers, for a model that reads them so: engine.score_path).

    ``text`` is the case's encoding (word-pieces, words, fields); a modality the model does not read is None.
    """

    img: torch.Tensor | None
    ids: torch.Tensor | None
    mask: torch.Tensor | None
    text: TextEncoding | None
    scores: torch.Tensor | None = None

    @property
    def n_tokens(self) -> int:
        """Real tokens (n), [CLS] and [SEP] included."""
        return 0 if self.text is None else len(self.text.tokens)


def model_inputs(model: nn.Module, case: CaseInputs) -> ModelInputs:
    """What ``model`` reads of ``case``, on the model's device; None for a modality it does not read."""
    dev = next(model.parameters()).device
    img = ids = mask = text = scores = None
    if model.image_encoder is not None:
        s = model.cfg.image_size
        shape = tuple(case.device_image.shape if case.device_image is not None else np.shape(case.image))
        if shape != (s, s, s):
            raise ValueError(f"case image of shape {shape} does not fit the model's {s}^3 grid")
        img = _image_on(case, dev)[None]
    if model.text_encoder is not None:
        text = case.text
        ids, mask = text.input_ids[None].to(dev), text.attention_mask[None].to(dev)
        scores = case_scores(case, dev)
    return ModelInputs(img, ids, mask, text, scores)
