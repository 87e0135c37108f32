"""No network, no patient text in logs: a tiny training run, a prediction and an explanation, offline.

Every way out of the process (socket connect, DNS, create_connection) is replaced by a tripwire that
records the attempt and raises. Then the run's stdout/stderr and every file of its run folder are searched
for the record's subject id and free text.

By design, ``splits.json`` of a run lists the subject ids of each split (an evaluation must reproduce the
split and refuse leakage); nothing else of a run may name a subject. A prediction's own output (stdout,
prediction.json, words.json) shows the text the model read, which includes the summary: that is the result
the user asked for, not a log. It must still never show the subject id, which the model never reads.
"""
from __future__ import annotations

import json
import socket
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from trainer.records import CaseRecord, write_manifest

SUMMARY = "Quixotic heliotrope zeppelin anecdote"      # distinctive: appears nowhere else
SUBJECT = "PTQX-7731"


class NetworkTripwire:
    """Replaces socket entry points; every call is recorded and refused."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[str] = []
        for owner, name in ((socket.socket, "connect"), (socket.socket, "connect_ex"), (socket, "getaddrinfo"),
                            (socket, "create_connection"), (socket, "gethostbyname")):
            monkeypatch.setattr(owner, name, self._refuse(name))

    def _refuse(self, name: str):
        def refuse(*args, **kwargs):
            self.attempts.append(f"{name}{args[1:] if name.startswith('connect') else args}")
            raise OSError(f"network is disabled in this test ({name})")
        return refuse


def write_cohort(folder: Path, n: int = 12) -> Path:
    """n subjects with blob images (neutral file names) and records carrying SUMMARY and ids PTQX-7731-xx."""
    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True)
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, 20)] * 3, indexing="ij")
    r = np.sqrt(x ** 2 + y ** 2 + z ** 2)
    records = []
    for i in range(n):
        c = i % 3
        vol = (np.where(r < 0.85, 100.0, 0.0) - np.where(r < 0.2 + 0.12 * c, 80.0, 0.0)
               + rng.normal(0, 3, r.shape)).astype(np.float32)
        path = folder / "images" / f"img-{i:03d}.nii.gz"
        nib.save(nib.Nifti1Image(vol, np.eye(4)), path)
        sid = f"{SUBJECT}-{i:02d}"
        ehr = {"subject_id": sid, "age": 70 + c, "sex": "female", "mmse": 29 - 3 * c, "summary": f"{SUMMARY} {i}."}
        records.append(CaseRecord(sid, "bl", path, ("NC", "MCI", "AD")[c], "toy", ehr))
    write_manifest(records, folder / "manifest.csv")
    return folder


def _files_mentioning(folder: Path, needle: str) -> list[str]:
    """Names of files under ``folder`` whose bytes contain ``needle`` (UTF-8), binary files included."""
    raw = needle.encode("utf-8")
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and raw in p.read_bytes())


def _cli(main, argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    io = capsys.readouterr()
    return code, io.out, io.err


@pytest.mark.slow
def test_train_predict_explain_offline_without_patient_text_in_logs(tmp_path, monkeypatch, capsys):
    from engine.checkpoint import read_info
    from engine.cli_predict import main as predict_main
    from trainer.cli_train import main as train_main

    cohort = write_cohort(tmp_path / "cohort")
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"subject_id": f"{SUBJECT}-99", "age": 74, "mmse": 22, "summary": SUMMARY + "."}))
    net = NetworkTripwire(monkeypatch)
    with pytest.raises(OSError):  # the tripwire is live
        socket.create_connection(("huggingface.co", 443))
    net.attempts.clear()

    run = tmp_path / "run"
    code, out, err = _cli(train_main, ["--data", cohort, "--preset", "tiny", "--epochs", "1", "--batch-size", "2",
                                       "--out", run, "--cache", tmp_path / "cache", "--progress-json"], capsys)
    assert code == 0, err
    assert read_info(run / "last.safetensors").trained
    pred_out = tmp_path / "pred"
    code, pout, perr = _cli(predict_main, [tmp_path / "cohort/images/img-000.nii.gz", "--ehr", case,
                                           "--checkpoint", run / "best.safetensors", "--device", "cpu",
                                           "--explain", "relevance", "--out", pred_out, "--json"], capsys)
    assert code == 0, perr
    result = json.loads(pout)
    assert set(result["probabilities"]) == {"NC", "MCI", "AD"} and result["explanation"]["method"] == "relevance"
    assert (pred_out / "relevance.nii.gz").is_file()
    assert net.attempts == []

    # training: no subject id and no free text on stdout/stderr or in any file but splits.json
    assert SUMMARY not in out + err and SUBJECT not in out + err
    assert _files_mentioning(run, SUMMARY) == []
    assert _files_mentioning(run, SUBJECT) == ["splits.json"]
    assert _files_mentioning(tmp_path / "cache", SUMMARY) == [] and _files_mentioning(tmp_path / "cache", SUBJECT) == []
    # prediction: the log channel is clean; the result shows the text the model read but never the subject id
    assert SUMMARY not in perr and SUBJECT not in perr
    assert SUMMARY in result["text"]
    assert SUBJECT not in pout and _files_mentioning(pred_out, SUBJECT) == []
