"""alifuse-synth: writes the layout; bad options give one line `alifuse: error: ...` and exit 2."""
from __future__ import annotations

import pytest

from trainer.cli_synth import build_parser, main


def _fails(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alifuse: error: "), err
    assert "Traceback" not in err and out == ""
    return lines[0]


@pytest.mark.slow
def test_writes_the_layout(tmp_path, capsys):
    out = tmp_path / "cohort"
    assert main([str(out), "--subjects", "3", "--seed", "2", "--preset-size", "small",
                 "--class-balance", "1,1,1", "--acquisition", "shifted"]) == 0
    assert "wrote 3 subjects (NC 1, MCI 1, AD 1)" in capsys.readouterr().out
    for name in ("manifest.csv", "ADNIMERGE.csv", "oasis2.csv", "cohort.json"):
        assert (out / name).is_file(), name
    assert len(list((out / "images").glob("sub-000*.nii*"))) == 3
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"sub-000{i}_atrophy.nii.gz" for i in (1, 2, 3)]
    assert sorted(p.name for p in (out / "ehr").iterdir()) == [f"sub-000{i}.json" for i in (1, 2, 3)]


@pytest.mark.parametrize("extra, names", [
    (["--subjects", "0"], "--subjects"),
    (["--subjects", "-3"], "--subjects"),
    (["--subjects", "two"], "--subjects"),
    ([], "--subjects"),
    (["--subjects", "2", "--seed", "-1"], "--seed"),
    (["--subjects", "2", "--seed", str(2**70)], "--seed"),
    (["--subjects", "2", "--seed", "1.5"], "--seed"),
    (["--subjects", "1000000000"], "--subjects"),
    (["--subjects", "100001"], "--subjects"),
    (["--subjects", "2", "--workers", "0"], "--workers"),
    (["--subjects", "2", "--class-balance", "1,2"], "--class-balance"),
    (["--subjects", "2", "--class-balance", "0,0,0"], "--class-balance"),
    (["--subjects", "2", "--acquisition", "ge"], "--acquisition"),
    (["--subjects", "2", "--preset-size", "huge"], "--preset-size"),
    (["--subjects", "2", "--colour"], "--colour"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, capsys, extra, names):
    line = _fails(capsys, [str(tmp_path / "c")] + extra)
    assert names in line
    assert not (tmp_path / "c").exists()


def test_out_dir_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "taken.csv"
    f.write_text("x\n")
    line = _fails(capsys, [str(f), "--subjects", "2"])
    assert str(f) in line and "not a folder" in line
    assert f.read_text() == "x\n"


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for action in build_parser()._actions:
        for opt in action.option_strings:
            assert opt in text
        assert action.help
    for word in ("OUT_DIR", "standard", "shifted", "small", "byte-identical"):
        assert word in text


@pytest.mark.parametrize("where", ["/dev/null/cohort", "readonly"])
def test_out_dir_that_cannot_be_written_is_one_line(tmp_path, capsys, where):
    import os

    if where == "readonly":
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        if os.access(ro, os.W_OK):  # root writes anywhere
            pytest.skip("running as root")
        where = str(ro / "c")
    line = _fails(capsys, [where, "--subjects", "2"])
    assert "OUT_DIR" in line and "internal error" not in line


@pytest.mark.slow
def test_a_cohort_stopped_midway_is_written_again_and_skip_if_done_keeps_a_finished_one(tmp_path, capsys,
                                                                                       monkeypatch):
    import trainer.synth.cohort as cohort

    out = tmp_path / "cohort"
    argv = [str(out), "--subjects", "2", "--seed", "4", "--preset-size", "small", "--skip-if-done"]
    real = cohort._render_job

    def stop_after_one(job):  # noqa: ANN001, ANN202 - the process killed while the second subject is drawn
        if job[1].subject_id.endswith("2"):
            raise KeyboardInterrupt  # Ctrl-C
        return real(job)

    monkeypatch.setattr(cohort, "_render_job", stop_after_one)
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 130  # as after Ctrl-C
    assert (out / cohort.PARTIAL_MARKER).is_file() and not (out / "cohort.json").exists()
    assert cohort.finished_cohort(out) is None
    monkeypatch.setattr(cohort, "_render_job", real)
    assert main(argv) == 0 and "wrote 2 subjects" in capsys.readouterr().out  # not refused as a foreign folder
    assert not (out / cohort.PARTIAL_MARKER).exists() and cohort.finished_cohort(out)["seed"] == 4
    stamp = (out / "manifest.csv").stat().st_mtime_ns
    assert main(argv) == 0 and "nothing to do" in capsys.readouterr().out
    assert (out / "manifest.csv").stat().st_mtime_ns == stamp
    assert main(argv[:4] + ["5", *argv[5:]]) == 0 and "wrote 2 subjects" in capsys.readouterr().out  # another seed
    assert cohort.finished_cohort(out)["seed"] == 5


@pytest.mark.slow
def test_skip_if_done_writes_again_a_cohort_that_other_generator_code_made(tmp_path, capsys, monkeypatch):
    """The options alone cannot tell an old cohort from today's: a change of the rendering or of the draws (as a
    generator fix would make) is found, and the cohort written again."""
    import dataclasses

    import trainer.synth.cohort as cohort

    out = tmp_path / "cohort"
    argv = [str(out), "--subjects", "3", "--seed", "6", "--preset-size", "small", "--class-balance", "1,1,1",
            "--skip-if-done"]
    real_render, real_ehr = cohort.render, cohort.sample_ehr

    def render_brighter(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - a generator whose scans differ
        r = real_render(*args, **kwargs)
        return dataclasses.replace(r, data=r.data + 1)

    monkeypatch.setattr(cohort, "render", render_brighter)  # the cohort made by "earlier" code
    assert main(argv) == 0 and "wrote 3 subjects" in capsys.readouterr().out
    monkeypatch.setattr(cohort, "render", real_render)  # today's code renders the scans otherwise
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "renders otherwise now (images/sub-000" in said and "writing it again" in said and "wrote 3 subjects" in said
    assert main(argv) == 0 and "nothing to do" in capsys.readouterr().out  # now it is today's cohort

    def ehr_older(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - records drawn by another version
        return {**real_ehr(*args, **kwargs), "years_of_education": 99}

    monkeypatch.setattr(cohort, "sample_ehr", ehr_older)
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "sub-0001's record is not this code's (ehr/sub-0001.json)" in said and "wrote 3 subjects" in said
