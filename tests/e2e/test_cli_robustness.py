"""The command line when things go wrong around the migration: outputs that cannot be written,
odd configuration files, Ctrl-C while a server does not answer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from groupmigrate.backends.memory import MemoryServer
from groupmigrate.items import Message

CLI = [sys.executable, "-m", "groupmigrate.frontdoors.cli"]


def setup(tmp_path: Path, destination: str, report: str = "report.html") -> Path:
    source = MemoryServer(tmp_path / "source.mem")
    source.add_mailbox("alice@contoso.com")
    for n in range(5):
        raw = f"From: a@b.org\r\nSubject: mail {n}\r\nMessage-ID: <{n}@b.org>\r\n\r\nbody\r\n".encode()
        source.add_item("alice@contoso.com", ("Inbox",), Message.from_mime(raw))
    source.save()
    target = MemoryServer(tmp_path / "dest.mem")
    target.add_mailbox("alice@example.org")
    target.save()
    (tmp_path / "accounts.csv").write_text("source,destination\nalice@contoso.com,alice@example.org\n")
    config = tmp_path / "migration.toml"
    config.write_text(
        f'[source]\nbackend = "memory"\nfile = "source.mem"\n\n[destination]\n{destination}\n\n'
        f'[migration]\naccounts = "accounts.csv"\nstate = "state.db"\nreport = "{report}"\nitem_types = ["mail"]\n'
    )
    return config


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_an_unwritable_report_folder_is_refused_before_anything_is_migrated(tmp_path: Path) -> None:
    config = setup(tmp_path, 'backend = "memory"\nfile = "dest.mem"', report="missing/folder/report.html")
    done = cli("migrate", str(config), "--no-progress", cwd=tmp_path)
    assert done.returncode == 5, done.stderr
    assert f"report {tmp_path / 'missing/folder/report.html'}: the folder" in done.stderr and "does not exist" in done.stderr
    assert MemoryServer(tmp_path / "dest.mem").items("alice@example.org", ("Inbox",)) == []
    assert not (tmp_path / "state.db").exists()


def test_a_report_that_cannot_be_written_after_the_run_names_the_path_and_prints_the_summary(tmp_path: Path) -> None:
    config = setup(tmp_path, 'backend = "memory"\nfile = "dest.mem"', report="/dev/full")  # writes fail: no space
    done = cli("migrate", str(config), "--no-progress", cwd=tmp_path)
    assert done.returncode == 5, done.stderr
    assert "completed; migrated 5" in done.stdout  # the summary, anyway
    assert "the report could not be written to /dev/full" in done.stderr and "Traceback" not in done.stderr
    assert len(MemoryServer(tmp_path / "dest.mem").items("alice@example.org", ("Inbox",))) == 5


def test_a_deeply_nested_configuration_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "deep.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    done = cli("check", str(tmp_path / "deep.toml"), cwd=tmp_path)
    assert done.returncode == 2 and "nested too deeply" in done.stderr and "Traceback" not in done.stderr


class Silent:
    """A server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def _started(proc: subprocess.Popen[str], silent: Silent) -> None:
    deadline = time.monotonic() + 60
    while not silent.conns and time.monotonic() < deadline:
        time.sleep(0.1)
    assert silent.conns, "the client never reached the server"
    time.sleep(0.5)


def test_ctrl_c_reports_within_seconds_and_a_second_ctrl_c_aborts_while_the_server_hangs(tmp_path: Path) -> None:
    silent = Silent()
    try:
        destination = (f'backend = "ews"\nurl = "http://127.0.0.1:{silent.port}/EWS/Exchange.asmx"\nprofile = "exchange"\n'
                       '[destination.auth]\ntype = "basic"\nusername = "admin@example.org"\npassword_env = "GM_PW"')  # fmt: skip
        config = setup(tmp_path, destination)
        env = {**os.environ, "GM_PW": "pw"}
        for presses, limit in ((1, 6.0), (2, 6.0)):
            proc = subprocess.Popen([*CLI, "migrate", str(config), "--no-progress"], cwd=tmp_path, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
            _started(proc, silent)
            began = time.monotonic()
            for _ in range(presses):
                proc.send_signal(signal.SIGINT)
                time.sleep(0.3)
            out, err = proc.communicate(timeout=30)
            assert time.monotonic() - began < limit, (presses, err)
            assert proc.returncode == 130, err
            if presses == 1:
                assert "cancelled" in out and "run the same command again" in err
            else:
                assert "aborted" in err
            silent.conns.clear()
    finally:
        silent.close()


def test_check_analyze_and_verify_print_a_totals_line(tmp_path: Path) -> None:
    config = setup(tmp_path, 'backend = "memory"\nfile = "dest.mem"')
    check = cli("check", str(config), cwd=tmp_path)
    assert check.returncode == 0 and check.stdout.splitlines()[-1] == "total: 1 of 1 account(s) ready on both sides, 0 problem(s)"
    analyze = cli("analyze", str(config), cwd=tmp_path)
    assert analyze.returncode == 0 and analyze.stdout.splitlines()[-1].startswith("total: 1 account(s), 5 items,")
    assert cli("migrate", str(config), "--no-progress", cwd=tmp_path).returncode == 0
    verify = cli("verify", str(config), cwd=tmp_path)
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.splitlines()[-1] == ("total: 1 account(s); 5 items in the source, 5 on the destination, "
                                              "0 missing, 0 extra, 0 duplicated")  # fmt: skip


def test_check_against_a_server_that_never_answers_fails_within_the_read_timeout(tmp_path: Path) -> None:
    silent = Silent()
    try:
        destination = (f'backend = "ews"\nurl = "http://127.0.0.1:{silent.port}/EWS/Exchange.asmx"\nprofile = "exchange"\n'
                       'read_timeout = 2\nconnect_timeout = 2\n'
                       '[destination.auth]\ntype = "basic"\nusername = "admin@example.org"\npassword_env = "GM_PW"')  # fmt: skip
        config = setup(tmp_path, destination)
        began = time.monotonic()
        done = subprocess.run([*CLI, "check", str(config)], capture_output=True, text=True, cwd=tmp_path,
                              env={**os.environ, "GM_PW": "pw"}, timeout=60)  # fmt: skip
        assert time.monotonic() - began < 15, done.stdout
        assert done.returncode == 3, done.stdout + done.stderr
        line = next(line for line in done.stdout.splitlines() if "destination" in line)
        assert line.startswith("FAIL") and "alice@example.org" in line
    finally:
        silent.close()
