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
    """The other scripts that run for hours (the paper's tables, the experiments) are wrapped the same way."""
    for name in ("train_demo.sh", "tables_demo.sh", "experiments.sh"):
        lines = (ROOT / "scripts" / name).read_text().rstrip("\n").split("\n")
        start = lines.index("set -euo pipefail")
        body = [ln for ln in lines[start + 1:] if ln.strip() and not ln.startswith("#")]
        assert body[0].startswith("{") and body[-2:] == ["exit", "}"], name
        assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / name)]).returncode == 0, name


def _has_avx2() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.is_file() and " avx2" in cpuinfo.read_text()


def _recipe_with_stubs(tmp_path: Path, judge_rc: int) -> tuple[Path, Path, Path]:
    """A copy of the recipe whose commands are stubs: every step 'succeeds' at once, calibration writes a candidate
    file, and the judging step (python -m pytest tests/model) exits with ``judge_rc`` -> (script, calls log, root)."""
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
        _stub(bin_dir / name, f'echo "{name} $ATEN_CPU_CAPABILITY $ONEDNN_MAX_CPU_ISA" >> {calls}\n')
    # alifuse-calibrate writes its --out: the candidate
    _stub(bin_dir / "alifuse-calibrate", 'while [ $# -gt 0 ]; do [ "$1" = --out ] && echo candidate > "$2"; shift; done\n')
    _stub(bin_dir / "python",
          'if [ "$1 $2" = "-m pytest" ]; then\n'
          f'  echo "judge $ALIFUSE_MODEL_CHECKS" >> {calls}\n'
          '  echo "FAILED tests/model/test_record_reading.py::test_textbook_records[MCI-3] - AssertionError"\n'
          f'  exit {judge_rc}\n'
          'fi\n'
          f'case "$*" in *demo_model_report.py*) echo report >> {calls};; esac\n')
    return script, calls, tmp_path


def _run_recipe(script: Path, work: Path, *args: str) -> subprocess.CompletedProcess:
    # the kernel set is kernels.sh's own here, not one the shell running the tests chose
    drop = ("BASH_ENV", "ALIFUSE_MODEL_CHECKS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(["bash", str(script), str(work), *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_the_recipe_installs_a_new_model_only_if_it_passes_the_checks_of_tests_model(tmp_path):
    script, calls, root = _recipe_with_stubs(tmp_path / "fails", judge_rc=1)
    work = tmp_path / "fails" / "work"
    done = _run_recipe(script, work, "--install")
    assert done.returncode == 1, done.stderr
    assert (root / "resources" / "alifuse-demo.safetensors").read_text() == "shipped"  # not replaced
    assert f"NOT installed: {work}/model_checks.log" in done.stderr
    assert "FAILED tests/model/test_record_reading.py::test_textbook_records[MCI-3]" in done.stderr  # named
    log = calls.read_text().split("\n")
    assert f"judge {work}/runs/demo.safetensors" in log  # the new model was judged, not the shipped one
    assert log[-2] == "report"  # the figures are still made, for the researcher to read
    if _has_avx2():  # every step runs one kernel set, whatever else the processor offers (kernels.sh)
        assert "alifuse-train avx2 AVX2" in log

    script, calls, root = _recipe_with_stubs(tmp_path / "passes", judge_rc=0)
    done = _run_recipe(script, tmp_path / "passes" / "work", "--install")
    assert done.returncode == 0, done.stderr
    assert (root / "resources" / "alifuse-demo.safetensors").read_text() == "candidate\n"
    assert "fails none of the checks the shipped one passes" in done.stdout

    # without --install a failing model is a finding, not a failed run
    script, calls, root = _recipe_with_stubs(tmp_path / "plain", judge_rc=1)
    done = _run_recipe(script, tmp_path / "plain" / "work")
    assert done.returncode == 0, done.stderr
    assert "NOT installed" in done.stderr
    assert (root / "resources" / "alifuse-demo.safetensors").read_text() == "shipped"

    # checks that could not run (pytest's usage error, 4) are not checks passed
    script, calls, root = _recipe_with_stubs(tmp_path / "unjudged", judge_rc=4)
    done = _run_recipe(script, tmp_path / "unjudged" / "work", "--install")
    assert done.returncode == 1 and "the checks could not be run (pytest exit 4); NOT installed" in done.stderr
    assert (root / "resources" / "alifuse-demo.safetensors").read_text() == "shipped"


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
