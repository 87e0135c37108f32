"""scripts/train_demo.sh runs for hours in the work tree: a file edited under it (a pull, an editor writing in place)
must not derail it. bash reads a plain script as it runs, so after an edit it goes on from the same byte offset of the
new text; the recipe is one block, read whole before its first command."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _stub(path: Path, body: str) -> None:
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_the_recipe_goes_on_as_written_when_its_file_is_edited_while_it_runs(tmp_path):
    script = tmp_path / "scripts" / "train_demo.sh"
    script.parent.mkdir()
    shutil.copy(ROOT / "scripts" / "train_demo.sh", script)
    shutil.copy(ROOT / "scripts" / "kernels.sh", script.parent)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / "calls.log"
    # the first cohort's command rewrites the script in place (same file, every byte shifted), as an editor might
    _stub(bin_dir / "alifuse-synth", f'echo "synth $1" >> {calls}\n'
                                     f'if [ "$(wc -l < {calls})" = 1 ]; then\n'
                                     f'  {{ echo "# a line added while the recipe runs"; cat {script}.orig; }} > {script}\n'
                                     'fi\n')
    shutil.copy(script, f"{script}.orig")
    # the step after the two training cohorts (merging their manifests) stops the run where the test looks
    _stub(bin_dir / "python", f'echo "python" >> {calls}\nexit 3\n')
    work = tmp_path / "work"
    env = {k: v for k, v in os.environ.items() if k != "BASH_ENV"}
    done = subprocess.run(["bash", str(script), str(work)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 3, done.stderr  # stopped by the stub, not by a line read from the wrong place
    assert "command not found" not in done.stderr and "syntax error" not in done.stderr, done.stderr
    assert calls.read_text().split("\n")[:3] == [f"synth {work}/train1200", f"synth {work}/train_extra", "python"]
    assert script.read_text().startswith("# a line added while the recipe runs")  # the edit did happen


def test_every_long_recipe_script_is_one_block():
    """The other scripts that run for hours (the paper's tables, the experiments) are wrapped the same way, and run
    the same kernel set (scripts/kernels.sh)."""
    for name in ("train_demo.sh", "tables_demo.sh", "experiments.sh"):
        lines = (ROOT / "scripts" / name).read_text().rstrip("\n").split("\n")
        assert any(ln.startswith('source "$root/scripts/kernels.sh"') for ln in lines), name
        start = lines.index("set -euo pipefail")
        body = [ln for ln in lines[start + 1:] if ln.strip() and not ln.startswith("#")]
        assert body[0].startswith("{") and body[-2:] == ["exit", "}"], name
        assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / name)]).returncode == 0, name


def _has_avx2() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.is_file() and " avx2" in cpuinfo.read_text()


def _recipe_with_stubs(tmp_path: Path, *judge_rc: int) -> tuple[Path, Path, Path]:
    """A copy of the recipe whose commands are stubs: every step 'succeeds' at once, calibration writes a candidate
    file naming itself, and the k-th judging step (python -m pytest tests/model) exits with ``judge_rc[k]`` (the last
    one again after them) -> (script, calls log, root)."""
    script = tmp_path / "scripts" / "train_demo.sh"
    script.parent.mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "train_demo.sh", script)
    shutil.copy(ROOT / "scripts" / "kernels.sh", script.parent)
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "alifuse-demo.safetensors").write_text("shipped")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / "calls.log"
    for name in ("alifuse-synth", "alifuse-train"):
        _stub(bin_dir / name, f'echo "{name} $ATEN_CPU_CAPABILITY $ONEDNN_MAX_CPU_ISA $*" >> {calls}\n')
    # alifuse-calibrate writes its --out: the candidate, by its file name
    _stub(bin_dir / "alifuse-calibrate",
          f'echo "alifuse-calibrate $*" >> {calls}\n'
          'while [ $# -gt 0 ]; do [ "$1" = --out ] && echo "candidate ${2##*/}" > "$2"; shift; done\n')
    codes = " ".join(map(str, judge_rc))
    _stub(bin_dir / "python",
          'if [ "$1 $2" = "-m pytest" ]; then\n'
          f'  echo "judge $ALIFUSE_MODEL_CHECKS" >> {calls}\n'
          '  echo "FAILED tests/model/test_record_reading.py::test_textbook_records[MCI-3] - AssertionError"\n'
          f'  codes=({codes}); k=$(grep -c "^judge " {calls}); i=$(( k <= ${{#codes[@]}} ? k - 1 : ${{#codes[@]}} - 1 ))\n'
          '  exit "${codes[$i]}"\n'
          'fi\n'
          f'case "$*" in *demo_model_report.py*) echo "report $*" >> {calls};; '
          f'*trainer.score_path_refit*) echo "refit $*" >> {calls};; esac\n')
    return script, calls, tmp_path


def _run_recipe(script: Path, work: Path, *args: str) -> subprocess.CompletedProcess:
    # the kernel set is kernels.sh's own here, not one the shell running the tests chose
    drop = ("BASH_ENV", "ALIFUSE_MODEL_CHECKS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(["bash", str(script), str(work), *args], capture_output=True, text=True, env=env,
                          timeout=60)


def _judged(calls: Path) -> list[str]:
    return [ln.split("/")[-1] for ln in calls.read_text().split("\n") if ln.startswith("judge ")]


def test_the_recipe_installs_a_new_model_only_if_it_passes_the_checks_of_tests_model(tmp_path):
    # every draw fails: three are judged, each its own step-10 run and file; nothing is installed
    script, calls, root = _recipe_with_stubs(tmp_path / "fails", 1)
    work = tmp_path / "fails" / "work"
    done = _run_recipe(script, work, "--install")
    assert done.returncode == 1, done.stderr
    assert (root / "resources" / "alifuse-demo.safetensors").read_text() == "shipped"  # not replaced
    assert _judged(calls) == ["demo.safetensors", "demo_draw1.safetensors", "demo_draw2.safetensors"]
    assert f"judge {work}/runs/demo.safetensors" in calls.read_text()  # the new model was judged, not the shipped one
    trained = [ln for ln in calls.read_text().split("\n") if ln.startswith("alifuse-train")]
    # each draw trains step 10's second part, then its third part from it
    assert f"--out {work}/runs/stage10_draw2" in trained[-2] and "--draw-seed 2 " in trained[-2]
    assert f"--out {work}/runs/stage11_draw2" in trained[-1] and "--draw-seed 2 " in trained[-1]
    assert f"--init-from {work}/runs/stage10_draw2/last.safetensors" in trained[-1]
    assert "--draw-seed" not in " ".join(trained[:-4])  # the steps before, and draw 0, are the record's
    refits = [ln for ln in calls.read_text().split("\n") if ln.startswith("refit ")]  # each draw refits its own
    assert [f"--checkpoint {work}/runs/stage11{t}/last.safetensors" in r for r, t in
            zip(refits, ("", "_draw1", "_draw2"))] == [True] * 3 and len(refits) == 3
    calibrated = [ln for ln in calls.read_text().split("\n") if ln.startswith("alifuse-calibrate")]
    assert [f"--checkpoint {work}/runs/score_path_refit{t}.safetensors" in c for c, t in
            zip(calibrated, ("", "_draw1", "_draw2"))] == [True] * 3 and len(calibrated) == 3
    assert "none of 3 draws passes the checks the shipped model passes; NOT installed" in done.stderr
    assert "FAILED tests/model/test_record_reading.py::test_textbook_records[MCI-3]" in done.stderr  # named
    assert "draw 2 of steps 10-13 fails checks the shipped model passes" in done.stderr
    log = calls.read_text().split("\n")
    assert log[-2].startswith("report ") and f"--checkpoint {work}/runs/demo.safetensors" in log[-2]  # still made
    assert (work / "runs" / "demo.safetensors").read_text() == "candidate demo.safetensors\n"  # draw 0 reported
    assert not (work / "runs" / "draw.txt").exists()
    if _has_avx2():  # every step runs one kernel set, whatever else the processor offers (kernels.sh)
        assert any(ln.startswith("alifuse-train avx2 AVX2") for ln in log)

    # the second draw passes: it is the candidate, reported and installed, and named
    script, calls, root = _recipe_with_stubs(tmp_path / "second", 1, 0)
    work = tmp_path / "second" / "work"
    done = _run_recipe(script, work, "--install")
    assert done.returncode == 0, done.stderr
    assert _judged(calls) == ["demo.safetensors", "demo_draw1.safetensors"]
    assert (root / "resources" / "alifuse-demo.safetensors").read_text() == "candidate demo_draw1.safetensors\n"
    assert (work / "runs" / "draw.txt").read_text() == "1\n"
    # run again and stopped during draw 0's checks: no draw.txt left naming a draw runs/demo.safetensors is not
    stop = tmp_path / "second" / ".venv" / "bin" / "python"
    stop.write_text(stop.read_text().replace('exit "${codes[$i]}"', "exit 2"))
    assert _run_recipe(script, work, "--install").returncode == 2
    assert not (work / "runs" / "draw.txt").exists()
    assert "the new model (draw 1) fails none of the checks the shipped one passes" in done.stdout

    script, calls, root = _recipe_with_stubs(tmp_path / "passes", 0)
    done = _run_recipe(script, tmp_path / "passes" / "work", "--install")
    assert done.returncode == 0, done.stderr
    assert _judged(calls) == ["demo.safetensors"]  # no draw more than needed
    assert (root / "resources" / "alifuse-demo.safetensors").read_text() == "candidate demo.safetensors\n"

    # without --install a failing model is a finding, not a failed run
    script, calls, root = _recipe_with_stubs(tmp_path / "plain", 1)
    done = _run_recipe(script, tmp_path / "plain" / "work")
    assert done.returncode == 0, done.stderr
    assert "NOT installed" in done.stderr
    assert (root / "resources" / "alifuse-demo.safetensors").read_text() == "shipped"

    # checks that could not run (pytest's usage error, 4) are not checks passed, nor a reason to draw again
    script, calls, root = _recipe_with_stubs(tmp_path / "unjudged", 4)
    done = _run_recipe(script, tmp_path / "unjudged" / "work", "--install")
    assert done.returncode == 1 and "the checks could not be run (pytest exit 4); NOT installed" in done.stderr
    assert _judged(calls) == ["demo.safetensors"]
    assert (root / "resources" / "alifuse-demo.safetensors").read_text() == "shipped"

    # Ctrl-C during the checks stops the recipe there: no other draw, no report
    script, calls, root = _recipe_with_stubs(tmp_path / "stopped", 1, 2)
    done = _run_recipe(script, tmp_path / "stopped" / "work", "--install")
    assert done.returncode == 2 and "interrupted; nothing installed" in done.stderr
    assert _judged(calls) == ["demo.safetensors", "demo_draw1.safetensors"] and "report" not in calls.read_text()


def test_the_kernel_set_the_recipe_asks_for_is_the_one_torch_runs():
    """scripts/kernels.sh holds torch to its AVX2 kernels where the processor has them; were the variable ignored, the
    pin would do nothing (checked both ways: a set named in the variable is the one torch reports)."""
    if not _has_avx2():
        pytest.skip("no AVX2 here (or no /proc/cpuinfo): kernels.sh leaves torch its own kernels")
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "BASH_ENV")}
    ask = f'{sys.executable} -c "import torch; print(torch.backends.cpu.get_cpu_capability())"'
    pinned = subprocess.run(["bash", "-c", f"root={ROOT}; source {ROOT}/scripts/kernels.sh; {ask}"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert pinned.returncode == 0, pinned.stderr
    assert pinned.stdout.strip() == "AVX2"
    plain = subprocess.run(["bash", "-c", f"ATEN_CPU_CAPABILITY=default {ask}"], capture_output=True, text=True,
                           env=env, timeout=120)
    assert plain.stdout.strip() == "DEFAULT"  # the variable is honoured on any processor, not only where AVX2 is best
