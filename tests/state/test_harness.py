"""The PostgreSQL test server: who it runs as, its databases and roles, a start that fails, and
that nothing is left behind, even when the test process dies."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import groupmigrate.testing.postgres as harness
from groupmigrate.testing.postgres import PostgresError, PostgresServer, import_psycopg

psycopg = import_psycopg()  # without it this module is skipped (a failure on CI)


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] == b"Z"
    except OSError:
        return True


def test_the_server_is_private_to_loopback_with_databases_and_roles_of_its_own(postgres_server: PostgresServer) -> None:
    server = postgres_server
    assert server.running and server.host == "127.0.0.1"
    expected = "nobody" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
    assert pwd.getpwuid(server.data_dir.stat().st_uid).pw_name == expected
    one, two = server.new_database(), server.new_database()
    assert one != two and one.startswith(f"postgresql://postgres@127.0.0.1:{server.port}/test_")
    with psycopg.connect(one) as conn:
        assert conn.execute("SELECT current_setting('fsync'), current_setting('listen_addresses')").fetchone() == (
            "off", "127.0.0.1"
        )
        conn.execute("CREATE TABLE only_here (x int)")
    with psycopg.connect(two) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
    role = f"harness_{os.urandom(3).hex()}"
    server.add_role(role, "harness-pw")
    url = server.new_database(owner=role)
    assert url.startswith(f"postgresql://{role}@")
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(server.url_for(database, role, "harness-pw")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(server.url_for(database, role, "wrong"))
    server.drop_database(database)
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(server.url_for(database))


def test_a_server_that_cannot_start_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    harness.require_postgres()
    before = set(Path("/tmp").glob("gm-postgres-*"))
    with pytest.raises(PostgresError) as caught:
        PostgresServer(settings={"shared_buffers": "lots"})
    message = str(caught.value)
    assert "PostgreSQL did not start" in message and "shared_buffers" in message  # the log's tail
    assert set(Path("/tmp").glob("gm-postgres-*")) <= before


def test_stop_and_a_dying_test_process_leave_no_server_and_no_files() -> None:
    harness.require_postgres()
    with PostgresServer() as server:
        pid, workdir = server.pid, server.workdir
        assert pid is not None and workdir.is_dir()
    assert _gone(pid) and not workdir.exists()

    script = textwrap.dedent(
        """
        import time
        from groupmigrate.testing.postgres import PostgresServer
        server = PostgresServer()
        print(server.pid, server.workdir, flush=True)
        time.sleep(120)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        pid_text, workdir_text = proc.stdout.readline().split()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while not (_gone(int(pid_text)) and not Path(workdir_text).exists()):
            assert time.monotonic() < deadline, "the server outlived its test process"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_without_postgresql_tests_skip_except_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "find_postgres", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        harness.require_postgres()
    for value in ("true", "1"):
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception, match="CI: PostgreSQL is not installed"):
            harness.require_postgres()
