"""One case, end to end: read the image and the record, preprocess, run the model, report.

``Predictor`` keeps the model loaded so the viewer can predict again (what-if) without reloading.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.calibration import UNCERTAIN, certainty_sentence, verdict
# CaseInputs and indexed are imported from here too (the case a prediction returns, the device it ran on)
from engine.case_inputs import CaseInputs, case_scores, case_tensors, indexed, prepare_case
from engine.checkpoint import CheckpointInfo, load_checkpoint
from engine.cli_common import resolve_device
from engine.config import CLASS_NAMES_3WAY, PREPROCESSING_VERSION, preset
from engine.ehr import DEMOGRAPHICS_PART, SCORE_FIELDS, SCORE_PART
from engine.ehr_text import TextEncoding, encode_for_model
from engine.errors import AlifuseInputError
from engine.imageio import Volume, load_volume
from engine.minilm import load_tokenizer
from engine.model import AlifuseModel, Encoded
from engine.resources import DEMO_CHECKPOINT
from engine.score_agreement import disagreement_certainty, disagreement_note, disagreements
from engine.text_batches import by_length, trim_text
from engine.training_ranges import PROVENANCE_KEY, fields_read, outside, outside_note

UNTRAINED_WARNING = ("the model is UNTRAINED (random weights): its prediction means nothing; "
                     "train one with alifuse-train")


@dataclass
class Prediction:
    label: str
    probabilities: dict[str, float]
    text: str
    tokens: list[str]
    text_truncated: bool
    checkpoint_id: str
    checkpoint: str
    trained: bool
    device: str
    timings: dict[str, float]
    notes: list[str] = field(default_factory=list)
    #: ``label``, or "uncertain" where the calibrated top probability is below ``uncertain_below`` or the record's
    #: scores disagree (``scores_disagree``)
    verdict: str = ""
    #: the top (calibrated, when ``calibrated``) probability
    confidence: float = 0.0
    #: the checkpoint carries a calibration (temperature + threshold fitted on its validation split)
    calibrated: bool = False
    uncertain_below: float | None = None
    temperature: float | None = None
    #: one line for a person: how sure, and on what that rests (engine.calibration.certainty_sentence)
    certainty: str = ""
    #: pairs of the record's scores that disagree (engine.score_agreement), each with its rule; any makes the
    #: verdict "uncertain", calibrated or not
    scores_disagree: list[str] = field(default_factory=list)
    #: the scores a model with ``config.score_knots`` > 0 read as numbers, not in ``text`` ({} for the others)
    scores_read_as_numbers: dict[str, float] = field(default_factory=dict)
    #: the record's demographics outside the ranges of the cases the model learned from, each {field, value, low,
    #: high} (engine.training_ranges; a note says so; empty for a checkpoint that does not store them)
    outside_training_ranges: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.verdict:
            self.verdict = self.label
        if not self.confidence and self.probabilities:
            self.confidence = float(max(self.probabilities.values()))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def finite_probabilities(probs: np.ndarray) -> np.ndarray:
    """``probs`` if every one is finite; otherwise an error (exit 2): a prediction is finite or it is an error,
    never a label (NaN weights, a NaN epsilon or intensities near the float32 limit give NaN)."""
    if not np.isfinite(probs).all():
        raise AlifuseInputError("the model produced non-finite probabilities (NaN) for this input")
    return probs


class Predictor:
    """Holds one model on one device. ``checkpoint=None`` uses the bundled demo checkpoint."""

    def __init__(self, checkpoint: str | Path | None = None, device: torch.device | str = "cpu") -> None:
        t0 = time.perf_counter()
        self.device = indexed(resolve_device(device) if isinstance(device, str) else torch.device(device))
        path = Path(checkpoint) if checkpoint else DEMO_CHECKPOINT
        if checkpoint is None and not path.is_file():
            # No trained demo model has been shipped yet: say so plainly rather than pretend.
            torch.manual_seed(0)
            cfg = preset("demo")
            self.model = AlifuseModel(cfg).to(self.device).eval()
            self.info = CheckpointInfo(cfg, list(CLASS_NAMES_3WAY), PREPROCESSING_VERSION,
                                       {"trained": False}, "untrained-demo", "(none: random demo weights)")
        else:
            self.model, self.info = load_checkpoint(path, self.device)
        self.cfg = self.model.cfg
        self.tokenizer = load_tokenizer()
        self.load_s = time.perf_counter() - t0

    @property
    def class_names(self) -> list[str]:
        return list(self.info.class_names)

    @property
    def excluded_parts(self) -> tuple[str, ...]:
        """EHR parts the model was trained without (an ablation): it must read the text it was trained on."""
        return tuple(self.info.provenance.get("without_ehr") or ())

    def prepare(self, image: str | Path | Volume, ehr: dict[str, Any]) -> CaseInputs:
        """Read + preprocess the image and encode the (already validated) record."""
        vol = image if isinstance(image, Volume) else load_volume(image)
        return prepare_case(vol, ehr, self.cfg, self.tokenizer, self.device, self.excluded_parts)

    def tensors(self, case: CaseInputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """image (1, S, S, S), ids (1, L), mask (1, L) on the model's device."""
        return case_tensors(case, self.device)

    def scores(self, case: CaseInputs) -> torch.Tensor:
        """(1, F) the record's scores as numbers (NaN = missing), for a model that reads them so."""
        return case_scores(case, self.device)

    @torch.no_grad()
    def probabilities(self, case: CaseInputs) -> np.ndarray:
        """Softmax over classes, (C,)."""
        img, ids, mask = self.tensors(case)
        logits = self.model(img, ids, mask, scores=self.scores(case))
        return finite_probabilities(torch.softmax(logits.float(), dim=-1)[0].cpu().numpy())

    @torch.no_grad()
    def record_probabilities(self, records: list[dict[str, Any]], image: np.ndarray, batch: int = 64) -> np.ndarray:
        """(N, C) probabilities of N (validated) records, each with the same preprocessed scan ``image`` (S, S, S);
        zeros = the MRI hidden. The what-if questions of many records about one scan: the scan is encoded once and
        each distinct text once (a model that reads the scores as numbers sees one text for a whole sweep of a
        score), shortest first, ``batch`` texts at a time cut to their longest (engine.text_batches). The
        probabilities of one record at a time, to float rounding."""
        if not records:
            return np.zeros((0, len(self.class_names)))
        encs = [encode_for_model(r, self.tokenizer, self.cfg, self.excluded_parts) for r in records]
        model = self.model
        img = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).to(self.device)[None]
        z_img = model.image_encoder(img) if model.image_encoder is not None else None  # (1, 1+N, D)
        cls, which = self._text_cls(encs, batch) if model.text_encoder is not None else (None, None)
        scores = torch.stack([e.scores for e in encs]).to(self.device)
        out = []
        for i in range(0, len(encs), 1024):  # the fusion head only: cheap, in large batches
            rows = slice(i, i + 1024)
            n = len(encs[rows])
            enc = Encoded(z_img.expand(n, -1, -1) if z_img is not None else None,
                          cls[which[rows]] if cls is not None else None, scores[rows])
            out.append(torch.softmax(model.classify(enc).double(), -1).cpu())
        return torch.cat(out).numpy()

    def _text_cls(self, encs: list[TextEncoding], batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The text encoder's [CLS] feature of each distinct text, (T, 1, D) (all the fusion head reads of the
        text), each encoded once, and which of them each encoding is, (N,) int64."""
        slot: dict[tuple[int, ...], int] = {}
        distinct: list[TextEncoding] = []
        which = []
        for e in encs:
            key = tuple(e.input_ids[e.attention_mask.bool()].tolist())
            if key not in slot:
                slot[key] = len(distinct)
                distinct.append(e)
            which.append(slot[key])
        order = by_length(torch.stack([e.attention_mask for e in distinct]))
        parts = []
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            ids, mask = trim_text(torch.stack([distinct[k].input_ids for k in idx]),
                                  torch.stack([distinct[k].attention_mask for k in idx]))
            parts.append(self.model.text_encoder(ids.to(self.device), mask.to(self.device))[:, :1])
        cls = torch.cat(parts)[torch.argsort(torch.tensor(order, device=self.device))]  # back to slot order
        return cls, torch.tensor(which, device=self.device)

    def predict(self, image: str | Path | Volume, ehr: dict[str, Any]) -> tuple[Prediction, CaseInputs]:
        t0 = time.perf_counter()
        case = self.prepare(image, ehr)
        t1 = time.perf_counter()
        probs = finite_probabilities(self.probabilities(case))
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        notes = list(case.volume.notes)
        cal = self.info.calibration
        probabilities = {c: float(p) for c, p in zip(self.class_names, probs)}
        said = verdict(probs, self.class_names, cal)
        if not self.info.trained:
            notes.insert(0, UNTRAINED_WARNING)
        if case.text.truncated:
            notes.append(f"the record's text was cut to the model's {self.cfg.max_tokens}-token budget")
        label = self.class_names[int(probs.argmax())]
        certainty = certainty_sentence(probabilities, said, cal)
        # scores that cannot both be right: no training or calibration case stands behind any answer there
        # (only for a model that reads them: an image-only one, or one trained without the scores, ignores them)
        reads_scores = self.cfg.use_text and SCORE_PART not in self.excluded_parts
        found = disagreements(case.ehr) if reads_scores else []
        if found:
            notes.append(disagreement_note(found))
            said = UNCERTAIN
            certainty = disagreement_certainty(found, label, float(probs.max()), cal is not None)
        # an age the training scans never showed: the answer stands, but it is extrapolated, and the note says so
        # (only for what this model reads: the age through a scan or the record, the schooling through the record)
        reads_demographics = self.cfg.use_text and DEMOGRAPHICS_PART not in self.excluded_parts
        unlike = outside(case.ehr, self.info.provenance.get(PROVENANCE_KEY),
                         fields_read(self.cfg.use_image, reads_demographics))
        if unlike:
            notes.append(outside_note(unlike, self.cfg.use_image))
        pred = Prediction(
            label=label,
            probabilities=probabilities,
            text=case.text.text, tokens=list(case.text.tokens), text_truncated=case.text.truncated,
            checkpoint_id=self.info.checkpoint_id, checkpoint=self.info.path, trained=self.info.trained,
            device=str(self.device),
            timings={"load_model_s": round(self.load_s, 4), "preprocess_s": round(t1 - t0, 4),
                     "model_s": round(t2 - t1, 4)},
            notes=notes, verdict=said, confidence=float(probs.max()), calibrated=cal is not None,
            uncertain_below=cal.uncertain_below if cal else None, temperature=cal.temperature if cal else None,
            certainty=certainty,
            scores_disagree=[str(d) for d in found],
            scores_read_as_numbers=({f: float(v) for f, v in zip(SCORE_FIELDS, case.text.scores.tolist()) if v == v}
                                    if self.cfg.score_knots else {}),  # v == v: not NaN (a missing score)
            outside_training_ranges=[u.to_dict() for u in unlike],
        )
        return pred, case
