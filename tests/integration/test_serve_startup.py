"""`sluicegate serve` that cannot start says why in one line and exits 2, as a configuration error
does; it never prints the banner ("Sluicegate listening on …") first, nor a traceback.

Each case runs as one process and as `--workers 2` (whose parent bootstraps the database, and whose
workers each meet what only the app reads, such as the cache URL). No line shows a URL's password
or query values. A stop signal during start-up (a database that never answers) ends it at once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.ports import free_port

EXIT_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0  # a stop during start-up is prompt; asyncpg's own connect timeout is 60 s
SECRET = "s3cret"


def serve_command(tmp_path: Path, port: int, workers: int, **env: str) -> tuple[list[str], dict[str, str]]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SLUICEGATE_")} | {
        "SLUICEGATE_DATA": str(tmp_path / "data"),
        "SLUICEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        **env,
    }
    command = [sys.executable, "-m", "sluicegate", "serve", "--port", str(port), "--workers", str(workers)]
    return command, environment


def serve(tmp_path: Path, port: int, workers: int, **env: str) -> subprocess.CompletedProcess[str]:
    command, environment = serve_command(tmp_path, port, workers, **env)
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=EXIT_TIMEOUT)


def assert_one_line_error(started: subprocess.CompletedProcess[str], expected: str) -> None:
    assert started.returncode == 2, started.stdout + started.stderr
    assert "Sluicegate listening" not in started.stdout, started.stdout
    assert "Traceback" not in started.stderr, started.stderr
    assert "WARNING" not in started.stderr, started.stderr  # (a warning about a server that never ran)
    errors = [line for line in started.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, started.stderr
    assert errors[0].startswith(expected), started.stderr


@pytest.fixture(params=[1, 2], ids=["one process", "workers"])
def workers(request: pytest.FixtureRequest) -> int:
    count: int = request.param
    return count


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another server listens on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", free_port()))
        held.listen()
        yield held.getsockname()[1]


def test_a_database_url_of_an_unknown_scheme(tmp_path: Path, workers: int) -> None:
    started = serve(tmp_path, free_port(), workers, SLUICEGATE_DATABASE_URL="mysql://x")
    assert_one_line_error(
        started,
        "error: configuration: SLUICEGATE_DATABASE_URL: unsupported scheme 'mysql' (supported: sqlite,"
        " postgresql)",
    )


def test_a_malformed_cache_url(tmp_path: Path, workers: int) -> None:
    started = serve(tmp_path, free_port(), workers, SLUICEGATE_CACHE_URL="redis:/127.0.0.1:6379/7")
    assert_one_line_error(
        started, "error: configuration: SLUICEGATE_CACHE_URL: unsupported cache 'redis:/127.0.0.1:6379/7'"
    )


def test_postgresql_unreachable(tmp_path: Path, workers: int) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/test"  # nothing listens there
    started = serve(tmp_path, free_port(), workers, SLUICEGATE_DATABASE_URL=url)
    assert_one_line_error(started, f"error: database {url}: ")


def test_a_database_that_does_not_exist(tmp_path: Path, workers: int, postgres_url: str) -> None:
    url = urlsplit(postgres_url)._replace(path="/sluicegate_no_such_database", query="").geturl()
    started = serve(tmp_path, free_port(), workers, SLUICEGATE_DATABASE_URL=url)
    assert_one_line_error(
        started, f'error: database {url}: database "sluicegate_no_such_database" does not exist'
    )


def test_a_port_in_use(tmp_path: Path, workers: int, taken_port: int) -> None:
    started = serve(tmp_path, taken_port, workers)
    assert_one_line_error(
        started,
        f"error: cannot listen on 127.0.0.1:{taken_port}: address already in use"
        " (another server listens there)",
    )
    assert not (tmp_path / "data" / "sluicegate.db").exists()  # the port first: nothing opened


def test_a_cache_url_from_the_file_names_its_key_in_the_file(tmp_path: Path, workers: int) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[stores]\ncache_url = "mysql://x"\n')
    started = serve(tmp_path, free_port(), workers, SLUICEGATE_CONFIG=str(config))
    assert_one_line_error(
        started,
        f"error: configuration: [stores] cache_url in {config}: unsupported cache 'mysql://x'"
        " (redis://…, memory:// or empty)",
    )


def test_a_data_directory_that_is_a_file_names_the_setting(tmp_path: Path, workers: int) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("")
    started = serve(tmp_path, free_port(), workers, SLUICEGATE_DATA=str(a_file))
    assert_one_line_error(
        started,
        f"error: SLUICEGATE_DATA: the data directory {a_file} is a file: give a directory (it is made"
        " when missing)",
    )
    below = serve(tmp_path, free_port(), workers, SLUICEGATE_DATA=str(a_file / "data"))
    assert_one_line_error(
        below,
        f"error: SLUICEGATE_DATA: the data directory {a_file / 'data'} lies under {a_file}, a file:",
    )


def assert_no_secret(started: subprocess.CompletedProcess[str]) -> None:
    assert SECRET not in started.stdout + started.stderr, started.stdout + started.stderr


def test_a_cache_url_password_is_not_shown(tmp_path: Path, workers: int) -> None:
    url = f"rediss:/:{SECRET}pass@cache.example:6380/0"  # one slash: not a Redis URL
    started = serve(tmp_path, free_port(), workers, SLUICEGATE_CACHE_URL=url)
    assert_one_line_error(
        started,
        "error: configuration: SLUICEGATE_CACHE_URL: unsupported cache 'rediss:/:***@cache.example:6380/0'",
    )
    assert_no_secret(started)


def test_a_cache_url_password_holding_a_slash_is_not_shown(tmp_path: Path, workers: int) -> None:
    url = f"redis://:{SECRET}/x@127.0.0.1:6379/0"  # the port is read as {SECRET}
    started = serve(tmp_path, free_port(), workers, SLUICEGATE_CACHE_URL=url)
    assert_one_line_error(
        started, "error: configuration: SLUICEGATE_CACHE_URL: 'redis://:***@127.0.0.1:6379/0' has a port"
    )
    assert_no_secret(started)


def test_database_url_query_values_are_not_shown(tmp_path: Path, workers: int) -> None:
    base = f"postgresql://postgres@127.0.0.1:{free_port()}/test"  # nothing listens there
    url = f"{base}?password={SECRET}&sslpassword={SECRET}&schema=startup"
    started = serve(tmp_path, free_port(), workers, SLUICEGATE_DATABASE_URL=url)
    assert_one_line_error(started, f"error: database {base}?…: ")
    assert_no_secret(started)


def test_a_database_url_password_holding_a_slash_is_not_shown(tmp_path: Path, workers: int) -> None:
    url = f"postgresql://postgres:{SECRET}/x@127.0.0.1:5432/test"
    started = serve(tmp_path, free_port(), workers, SLUICEGATE_DATABASE_URL=url)
    assert_one_line_error(
        started,
        "error: configuration: SLUICEGATE_DATABASE_URL: 'postgresql://:***@127.0.0.1:5432/test' has a port",
    )
    assert_no_secret(started)


class SilentListener:
    """A TCP server that accepts connections and never answers; `accepted` once one came."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:  # closed
                return
            self._held.append(connection)
            self._take(connection)

    def _take(self, connection: socket.socket) -> None:
        self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for connection in self._held:
            connection.close()


@pytest.fixture
def silent() -> Iterator[SilentListener]:
    listener = SilentListener()
    yield listener
    listener.close()


def test_a_stop_signal_during_start_up_stops_it(tmp_path: Path, workers: int, silent: SilentListener) -> None:
    url = f"postgresql://postgres@127.0.0.1:{silent.port}/test"
    command, environment = serve_command(tmp_path, free_port(), workers, SLUICEGATE_DATABASE_URL=url)
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert silent.accepted.wait(EXIT_TIMEOUT), "the gateway never connected to the database"
        process.send_signal(signal.SIGTERM)  # opening the database: the start-up is under way
        stdout, stderr = process.communicate(timeout=STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    started = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    assert_one_line_error(started, "error: stopped during start-up")


class WorkersOnlyStall(SilentListener):
    """A TCP proxy to PostgreSQL for `serve --workers N`: it passes on the parent's connections (its
    bootstrap, before it starts any worker) and holds the workers' without an answer, so each
    worker's start-up waits on its database; `accepted` once one came. A connection accepted while
    the parent has no child is its own: the workers start only after its bootstrap has ended."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.parent = 0  # the serve process's id
        self.started = threading.Event()  # once `parent` is known
        super().__init__()

    def watch(self, parent: int) -> None:
        self.parent = parent
        self.started.set()

    def _take(self, connection: socket.socket) -> None:
        self.started.wait()
        if Path(f"/proc/{self.parent}/task/{self.parent}/children").read_text().strip():
            self.accepted.set()  # a worker's: held
            return
        upstream = socket.create_connection(self.target)
        self._held.append(upstream)
        for source, sink in ((connection, upstream), (upstream, connection)):
            threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def test_a_stop_signal_during_the_workers_start_up_stops_them(tmp_path: Path, postgres_url: str) -> None:
    real = urlsplit(postgres_url)
    proxy = WorkersOnlyStall((real.hostname or "127.0.0.1", real.port or 5432))
    url = real._replace(netloc=f"{real.username}@127.0.0.1:{proxy.port}").geturl()
    command, environment = serve_command(tmp_path, free_port(), 2, SLUICEGATE_DATABASE_URL=url)
    process = subprocess.Popen(
        command,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    proxy.watch(process.pid)
    try:
        assert proxy.accepted.wait(EXIT_TIMEOUT), "no worker connected to the database"
        process.send_signal(signal.SIGTERM)  # passed on to the workers, opening their database
        stdout, stderr = process.communicate(timeout=STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the workers too
            process.communicate()
        proxy.close()
    started = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    assert_one_line_error(started, "error: stopped during start-up")
