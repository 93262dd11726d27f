"""A team's MLflow tracking server: basic auth, runs and users in PostgreSQL, artifacts on the
server (uploaded and downloaded through it, so clients need no shared disk).

    MLFLOW_AUTH_ADMIN_PASSWORD=... python pipelines/server.py            # local PostgreSQL
    MLFLOW_AUTH_ADMIN_PASSWORD=... PGPASSWORD=... python pipelines/server.py \\
        --backend-store-uri postgresql+psycopg2://mlflow@db.example.com/mlflow

Without ``--backend-store-uri`` it keeps a PostgreSQL cluster in ``--folder`` (created on the
first start, databases ``mlflow`` and ``mlflow_auth``) and stops it on exit. Clients then run

    export MLFLOW_TRACKING_URI=http://<host>:<port>
    export MLFLOW_TRACKING_USERNAME=admin MLFLOW_TRACKING_PASSWORD=...
    make train ARGS="mlflow=server"
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clustering.errors import ClusteringError, ConfigError  # noqa: E402
from pipelines.common import PROJECT_ROOT, exit_on_user_error  # noqa: E402


def client_url(url: str) -> str:
    """The address clients use: a server listening on every interface (0.0.0.0) is reached
    by this machine's name."""
    import socket

    return url.replace("://0.0.0.0:", f"://{socket.gethostname()}:")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (0.0.0.0 for the whole network; default loopback)")
    ap.add_argument("--port", type=int, default=5000, help="port of the server (default 5000)")
    ap.add_argument("--folder", type=Path, default=PROJECT_ROOT / ".server",
                    help="artifacts, logs and the local PostgreSQL cluster (default .server/)")
    ap.add_argument("--backend-store-uri", default=None,
                    help="a team's PostgreSQL for runs (password in PGPASSWORD); default: a "
                         "local cluster in --folder")
    ap.add_argument("--auth-store-uri", default=None,
                    help="database of users and permissions (default: the backend's server, "
                         "database mlflow_auth for the local cluster, else the backend)")
    ap.add_argument("--db-port", type=int, default=5433, help="port of the local PostgreSQL")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    args = ap.parse_args(argv)
    # MLflow loads for a server, not for --help (2.6 s -> 0.5 s)
    from clustering.tracking.server import ADMIN_PASSWORD_ENV, LocalPostgres, TrackingServer

    folder = args.folder.resolve()
    postgres = None
    try:
        if not os.environ.get(ADMIN_PASSWORD_ENV):
            raise ConfigError(f"set {ADMIN_PASSWORD_ENV} to the admin's password first (it is "
                              "read from the environment, never stored in the repository)")
        if args.backend_store_uri:
            backend = args.backend_store_uri
            auth = args.auth_store_uri or backend
            password = None
        else:
            postgres = LocalPostgres(folder, port=args.db_port)
            print(f"PostgreSQL ({postgres.bin_dir}) in {postgres.data} on 127.0.0.1:{args.db_port}",
                  flush=True)
            postgres.start()
            backend = postgres.create_database("mlflow")
            auth = args.auth_store_uri or postgres.create_database("mlflow_auth")
            password = postgres.password
        server = TrackingServer(backend, auth, folder, host=args.host, port=args.port,
                                workers=args.workers, db_password=password)
        print(f"Starting the tracking server (log: {folder / 'server.log'}) ...", flush=True)
        server.start(log=folder / "server.log")
        if server.rotated:
            print("The admin's password was changed to MLFLOW_AUTH_ADMIN_PASSWORD's: the previous "
                  "one no longer signs in.", flush=True)
        print(f"MLflow tracking server on {server.url} (basic auth; runs in PostgreSQL; "
              f"artifacts in {folder / 'artifacts'})\n"
              f"Clients: export MLFLOW_TRACKING_URI={client_url(server.url)} "
              "MLFLOW_TRACKING_USERNAME=admin "
              f"MLFLOW_TRACKING_PASSWORD=<the admin's password>, then make train "
              f'ARGS="mlflow=server". Ctrl-C stops it.', flush=True)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            server.process.wait()
        except KeyboardInterrupt:
            print("stopping ...", flush=True)
        finally:
            server.stop()
        return 0
    except ClusteringError as exc:
        exit_on_user_error(exc)
    except RuntimeError as exc:
        print(f"server error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if postgres is not None:
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
