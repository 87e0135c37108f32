"""scripts/train_demo.sh runs for hours in the work tree: a file edited under it (a pull, an editor writing in place)
must not derail it. bash reads a plain script as it runs, so after an edit it goes on from the same byte offset of the
new text; the recipe is one block, read whole before its first command."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _stub(path: Path, body: str) -> None:
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_the_recipe_goes_on_as_written_when_its_file_is_edited_while_it_runs(tmp_path):
    script = tmp_path / "scripts" / "train_demo.sh"
    script.parent.mkdir()
    shutil.copy(ROOT / "scripts" / "train_demo.sh", script)
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
