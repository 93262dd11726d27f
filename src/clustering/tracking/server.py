"""A team's tracking server: MLflow with basic auth, runs and users in PostgreSQL, artifacts
stored and served by the server.

``make server`` starts it (``pipelines/server.py``); the test suite starts the same thing on a
free loopback port. PostgreSQL is either a team's own database (``--backend-store-uri``) or a
local one kept in a folder: the distribution's server (``/usr/lib/postgresql/*/bin``) or the
one the ``pgserver`` wheel ships. No password is ever written to the repository or put on a
command line: the admin's comes from ``MLFLOW_AUTH_ADMIN_PASSWORD``, the database's from
``PGPASSWORD`` (or, for a local database, a generated one kept in its folder, mode 0600).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from clustering.errors import ConfigError

ADMIN_PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"


def postgres_bin_dir() -> Path:
    """Where ``initdb``/``pg_ctl`` are: ``PG_BIN``, the distribution's newest PostgreSQL,
    ``PATH``, or the ``pgserver`` wheel's bundled build."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if versions:
        return versions[-1].parent
    if shutil.which("initdb") and shutil.which("pg_ctl"):
        return Path(shutil.which("initdb")).parent
    try:
        import pgserver  # noqa: PLC0415
    except ImportError:
        raise ConfigError(
            "no PostgreSQL server found: install the distribution's package "
            "(apt-get install postgresql) or `pip install pgserver`, or set PG_BIN") from None
    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster in ``folder`` listening on loopback only, password (SCRAM) login.

    PostgreSQL refuses to run as root; then the server runs as the ``postgres`` (else
    ``nobody``) user, which owns the folder.
    """

    folder: Path
    port: int = 5432
    user: str = "mlflow"
    bin_dir: Path = field(default_factory=postgres_bin_dir)

    @property
    def data(self) -> Path:
        return self.folder / "pgdata"

    @property
    def password(self) -> str:
        if os.environ.get("PGPASSWORD"):
            return os.environ["PGPASSWORD"]
        path = self.folder / "db_password"
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(24))
        return path.read_text().strip()

    def _as_owner(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        owner = "postgres" if _user_exists("postgres") else "nobody"
        return ["runuser", "-u", owner, "--"]

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            owner = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(path, owner)

    def init(self) -> None:
        """Create the cluster once (kept across restarts)."""
        if (self.data / "PG_VERSION").exists():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._chown(self.folder)
        if self._as_owner() and subprocess.run([*self._as_owner(), "test", "-w", str(self.folder)]
                                               ).returncode != 0:
            raise ConfigError(f"PostgreSQL cannot run as root, and its user ({self._as_owner()[2]}) "
                              f"cannot reach {self.folder}: choose a folder it can (e.g. under /srv)")
        pwfile = self.folder / ".initdb_pw"
        pwfile.write_text(self.password)
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            _run([*self._as_owner(), str(self.bin_dir / "initdb"), "-D", str(self.data),
                  "-U", self.user, "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                  "--no-instructions"])
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self) -> None:
        self.init()
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        _run([*self._as_owner(), str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o",
              options, "-l", str(self.folder / "postgres.log"), "-w", "-t", "60", "start"])

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            _run([*self._as_owner(), str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m",
                  "fast", "-w", "stop"])

    def create_database(self, name: str) -> str:
        """Create ``name`` unless it exists; its SQLAlchemy URI (no password: libpq reads
        ``PGPASSWORD``)."""
        import psycopg2  # noqa: PLC0415

        con = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user,
                               password=self.password, dbname="postgres")
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
        con.close()
        return self.uri(name)

    def uri(self, database: str) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"


def _user_exists(name: str) -> bool:
    import pwd  # noqa: PLC0415

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{Path(cmd[cmd.index('--') + 1] if '--' in cmd else cmd[0]).name} "
                           f"failed: {' | '.join(tail)}")


def write_auth_config(folder: Path, database_uri: str) -> Path:
    """MLflow's basic-auth settings: users in ``database_uri``; anyone signed in may read,
    only the admin and the owners of an experiment or model may change it. No password here:
    the admin's comes from ``MLFLOW_AUTH_ADMIN_PASSWORD`` when the user store is created."""
    path = folder / "basic_auth.ini"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("[mlflow]\n"
                    "default_permission = READ\n"
                    f"database_uri = {database_uri}\n"
                    "admin_username = admin\n"
                    "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                    # checking a password costs a PBKDF2 hash; a training makes hundreds of
                    # requests. A changed password reaches every worker within a minute.
                    "auth_cache_ttl_seconds = 60\n")
    return path


def sync_admin_password(database_uri: str, password: str, db_password: str | None = None,
                        username: str = "admin") -> bool:
    """Set the stored password of the admin to ``password`` when it differs; True if it did.

    MLflow reads ``MLFLOW_AUTH_ADMIN_PASSWORD`` only when it creates the user store, so a new
    password in the environment was silently ignored on restart and the old (perhaps leaked)
    one kept working: the environment now wins on every start."""
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    before = os.environ.get("PGPASSWORD")
    if db_password:
        os.environ["PGPASSWORD"] = db_password  # libpq reads it; the URI holds no password
    store = SqlAlchemyStore()
    try:
        store.init_db(database_uri)
        if (not store.has_user(username, use_primary=True)
                or store.authenticate_user(username, password, use_primary=True)):
            return False
        store.update_user(username, password=password)
        return True
    finally:
        if getattr(store, "engine", None) is not None:
            store.engine.dispose()
        if db_password:
            if before is None:
                os.environ.pop("PGPASSWORD", None)
            else:
                os.environ["PGPASSWORD"] = before


@dataclass
class TrackingServer:
    """``mlflow server --app-name basic-auth`` on ``host:port`` with runs in ``backend_uri``."""

    backend_uri: str
    auth_uri: str
    folder: Path
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 2
    db_password: str | None = None
    process: subprocess.Popen | None = None
    rotated: bool = False  # the admin's password was changed to the environment's on start

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        mlflow = Path(sys.executable).with_name("mlflow")
        return [str(mlflow) if mlflow.exists() else "mlflow", "server", "--app-name", "basic-auth",
                "--backend-store-uri", self.backend_uri,
                "--artifacts-destination", str((self.folder / "artifacts").resolve()),
                "--serve-artifacts", "--host", self.host, "--port", str(self.port),
                "--workers", str(self.workers)]

    def environment(self) -> dict[str, str]:
        if not os.environ.get(ADMIN_PASSWORD_ENV):
            raise ConfigError(f"set {ADMIN_PASSWORD_ENV} to the admin's password before starting "
                              "the tracking server (it is never stored in the repository)")
        env = {**os.environ,
               "MLFLOW_AUTH_CONFIG_PATH": str(write_auth_config(self.folder, self.auth_uri)),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        if self.db_password:
            env["PGPASSWORD"] = self.db_password
        env.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", secrets.token_hex(16))
        return env

    def start(self, log: Path | None = None, timeout: float = 120) -> TrackingServer:
        env = self.environment()
        self.rotated = sync_admin_password(self.auth_uri, env[ADMIN_PASSWORD_ENV],
                                           self.db_password)
        out = open(log, "ab") if log else subprocess.DEVNULL
        self.process = subprocess.Popen(self.command(), env=env, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_up(self.url, timeout, self.process, log)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)


def wait_until_up(url: str, timeout: float, process: subprocess.Popen | None = None,
                  log: Path | None = None) -> None:
    """Poll ``<url>/health`` until it answers; fail with the server's last log lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log and log.exists() else []
    raise RuntimeError(f"the tracking server at {url} did not start: " + " | ".join(tail))
