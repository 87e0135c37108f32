"""The model card of a checkpoint: the truth first — trained or not, validated on how many cases with what scores,
trained on what data (a synthetic cohort?) — then what the model is.

Everything shown comes from the checkpoint's own metadata (:class:`engine.checkpoint.CheckpointInfo`); the verdict
is :func:`alifuse_gui.model_verdict.verdict`.
"""
from __future__ import annotations

import math
from typing import Any

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)
from PySide6.QtCore import Qt

from engine.calibration import describe_calibration
from engine.checkpoint import CheckpointInfo
from alifuse_gui.model_verdict import UNTRAINED_TEXT, verdict

__all__ = ["UNTRAINED_TEXT", "ModelCardDialog", "format_value"]

#: Config fields a reader looks for first, with their labels; the rest follow under their own names.
CONFIG_LABELS: dict[str, str] = {
    "preset": "Preset",
    "num_classes": "Number of classes",
    "modalities": "Modalities",
    "image_size": "Image size (voxels per side)",
    "patch_size": "Patch size",
    "image_mean": "Image centred by (mean)",
    "image_std": "Image scaled by (sd)",
    "img_dim": "Image encoder width",
    "img_depth": "Image encoder layers",
    "img_heads": "Image encoder heads",
    "text_backbone": "Text encoder",
    "text_dim": "Text encoder width",
    "text_depth": "Text encoder layers",
    "text_heads": "Text encoder heads",
    "max_tokens": "Max. text tokens",
    "summary_max_words": "Summary words read",
    "text_format": "Record text format",
    "score_knots": "Scores read as numbers (pieces per score; 0 = as text)",
    "score_sum": "Each score also counts on its own (1) or only in the mean (0)",
    "dec_depth": "Image decoder layers",
    "text_dec_depth": "Text decoder layers",
    "embed_dim": "Contrastive embedding width",
    "fusion_hidden": "Fusion MLP hidden width",
    "mask_ratio": "Mask ratio",
    "lambda_cl": "λ contrastive (ITC)",
    "lambda_res": "λ reconstruction",
    "lambda_cls": "λ classification",
}

#: Provenance keys in reading order, with labels; unknown keys follow under their own names.
PROVENANCE_LABELS: dict[str, str] = {
    "trained": "Trained",
    "command": "Command",
    "data": "Training data",
    "preset": "Preset",
    "seed": "Seed",
    "time": "Time",
    "started": "Started",
    "finished": "Finished",
    "epochs": "Epochs planned",
    "epoch": "Saved after epoch",
    "batch_size": "Batch size",
    "lr": "Learning rate",
    "loss": "Loss terms",
    "modalities": "Modalities",
    "without_ehr": "EHR parts left out",
    "val": "Validation metrics",
    "score_path_fit": "Score path fitted before training",
    "score_path_refit": "Score path fitted again (trainer.score_path_refit)",
    "metrics": "Metrics",
    "train_subjects_sha256": "Training subjects (SHA-256)",
    "train_subject_ids_sha256": "Training subject ids (SHA-256)",
    "train_images_sha256": "Training scans (SHA-256 of their content)",
    "train_data_sha256": "Training table (SHA-256 of its path)",
}


def format_value(v: Any) -> str:
    """A metadata value as one readable line: 0.8123 -> '0.812', {'acc': 0.8} -> 'acc 0.800', [] -> 'none'."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "n/a"
        if abs(v) >= 1000:
            return f"{v:.6g}"
        if 0 < abs(v) < 1e-3:
            return f"{v:.3g}"              # learning rates: 2e-05
        return f"{v:.3f}".rstrip("0").rstrip(".")
    if isinstance(v, dict):
        return ", ".join(f"{k} {format_value(x)}" for k, x in v.items()) if v else "none"
    if isinstance(v, (list, tuple)):
        if len(v) > 6:   # e.g. hashes of a thousand training subjects: show a few and the count
            return ", ".join(format_value(x) for x in v[:3]) + f", … ({len(v)} in all)"
        return ", ".join(format_value(x) for x in v) if v else "none"
    if v is None:
        return "n/a"
    return str(v)


def plain_label(text: str) -> QLabel:
    """A label that shows ``text`` as it is: a checkpoint is untrusted, and HTML in a class name, a data set name
    or a command must never render as rich text (links, images, styles)."""
    lab = QLabel()
    lab.setTextFormat(Qt.TextFormat.PlainText)
    lab.setText(text)
    return lab


def plain_tooltip(text: str) -> str:
    """A tooltip that Qt shows as ``text`` verbatim: tooltips that look like HTML render as HTML, so the text is
    escaped inside an explicit rich-text wrapper."""
    import html

    return f"<qt>{html.escape(text)}</qt>" if text else ""


def _ordered(d: dict[str, Any], labels: dict[str, str]) -> list[tuple[str, str]]:
    """(label, text) rows: known keys in ``labels`` order first, then the others alphabetically."""
    rows = [(labels[k], format_value(d[k])) for k in labels if k in d]
    rows += [(k, format_value(d[k])) for k in sorted(d) if k not in labels]
    return rows


class ModelCardDialog(QDialog):
    """Read-only card: identity, trained/UNTRAINED status, class names, config and provenance."""

    def __init__(self, info: CheckpointInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.setWindowTitle(f"Model card — {info.checkpoint_id or 'unnamed checkpoint'}")

        self.verdict = verdict(info.trained, dict(info.provenance), len(info.class_names))
        self.status_label = plain_label(self.verdict.headline)
        self.status_label.setObjectName("model_verdict")
        self.status_label.setWordWrap(True)
        self.status_label.setStyleSheet(f"color: {self.verdict.colour}; font-weight: bold;"
                                        + ("" if self.verdict.level == "validated" else " font-size: 14px;"))
        #: validation scores and cases, training data and its provenance: before any hyper-parameter
        self.facts_label = plain_label("\n".join(self.verdict.facts))
        self.facts_label.setObjectName("model_facts")
        self.facts_label.setWordWrap(True)
        self.facts_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        ident = QFormLayout()  # row names are ours; the values come from the file
        self.identity = {
            "Checkpoint ID": info.checkpoint_id or "n/a",
            "File": info.path or "n/a",
            "Classes": ", ".join(info.class_names),
            "Preprocessing version": info.preprocessing_version,
            "Calibration": describe_calibration(info.calibration),
        }
        for k, v in self.identity.items():
            lab = plain_label(v)
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            lab.setWordWrap(True)
            ident.addRow(k, lab)

        self.config_rows = _ordered(info.config.to_dict(), CONFIG_LABELS)
        self.provenance_rows = _ordered(dict(info.provenance), PROVENANCE_LABELS)
        self.config_table = self._table(self.config_rows)
        self.provenance_table = self._table(self.provenance_rows or [("(none)", "the checkpoint records no provenance")])

        cfg_box, prov_box = QGroupBox("Model configuration"), QGroupBox("Training data and provenance")
        QVBoxLayout(cfg_box).addWidget(self.config_table)
        QVBoxLayout(prov_box).addWidget(self.provenance_table)
        tables = QHBoxLayout()
        tables.addWidget(cfg_box, 1)
        tables.addWidget(prov_box, 1)

        copy = QPushButton("Copy as text")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.as_text()))
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(copy)
        buttons.addStretch(1)
        buttons.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.status_label)
        layout.addWidget(self.facts_label)
        layout.addLayout(ident)
        layout.addLayout(tables, 1)
        layout.addLayout(buttons)
        self.resize(900, 560)

    @staticmethod
    def _table(rows: list[tuple[str, str]]) -> QTableWidget:
        t = QTableWidget(len(rows), 2)
        t.setHorizontalHeaderLabels(["", "value"])
        t.horizontalHeader().setVisible(False)
        t.verticalHeader().setVisible(False)
        t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        t.setWordWrap(True)
        for i, (k, v) in enumerate(rows):
            key = QTableWidgetItem(k)
            key.setToolTip(plain_tooltip(k))
            val = QTableWidgetItem(v)  # table items draw plain text; their tooltips would render HTML
            val.setToolTip(plain_tooltip(v))
            t.setItem(i, 0, key)
            t.setItem(i, 1, val)
        t.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        t.horizontalHeader().setStretchLastSection(True)
        return t

    def as_text(self) -> str:
        """The whole card as plain text (for a lab notebook or an e-mail)."""
        lines = [self.status_label.text(), *self.verdict.facts, ""]
        lines += [f"{k}: {v}" for k, v in self.identity.items()]
        lines += ["", "Model configuration"] + [f"  {k}: {v}" for k, v in self.config_rows]
        lines += ["", "Training data and provenance"] + [f"  {k}: {v}" for k, v in self.provenance_rows]
        return "\n".join(lines)

