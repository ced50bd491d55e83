"""Start-up of the ``groupmigrate`` command: commands that talk to no server load no server library.

Each command runs in a fresh interpreter with ``-X importtime``, which names on stderr every
module the process imports; the assertions are about which modules appear, never about time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Top-level packages only a server connection needs.
SERVER_LIBRARIES = ("exchangelib", "lxml", "imapclient", "imaplib")


def imported_modules(*args: str, cwd: Path = ROOT) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Run ``python -X importtime -m groupmigrate.frontdoors.cli ARGS``: the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "groupmigrate.frontdoors.cli", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip
    modules: set[str] = set()
    for line in done.stderr.splitlines():
        # "import time:   self [us] | cumulative | imported package", the name indented by depth
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                modules.add(name)
    return modules, done


def loaded_server_libraries(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".", 1)[0] in SERVER_LIBRARIES)


def test_the_module_list_is_read() -> None:
    # Guards the other tests: an empty or misparsed list would pass them vacuously.
    modules, done = imported_modules("--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"argparse", "groupmigrate", "groupmigrate.frontdoors"} <= modules


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("backends",), ("backends", "ews"), ("backends", "--json")])
def test_no_server_library_for(args: tuple[str, ...]) -> None:
    modules, done = imported_modules(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert loaded_server_libraries(modules) == [], f"groupmigrate {' '.join(args)} imported a server library"


def test_no_server_library_for_runs(tmp_path: Path) -> None:
    state = tmp_path / "migration.db"
    made = subprocess.run(
        [sys.executable, "-c", "import sys; from groupmigrate.core.state import SqliteStateStore; "
                               "SqliteStateStore(sys.argv[1]).close()", str(state)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-2000:]
    for args in (("runs", str(state)), ("runs", str(state), "--json")):
        modules, done = imported_modules(*args)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "groupmigrate.core.report" in modules
        assert loaded_server_libraries(modules) == [], f"groupmigrate {' '.join(args)} imported a server library"
