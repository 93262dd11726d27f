"""A team's tracking server, for real: PostgreSQL started by the tests, MLflow with basic auth
on loopback, artifacts on the server; the README's commands against it, parallel sweeps, and the
MLflow UI in the distribution's headless Chromium (screenshots in test-artifacts/ui/)."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import mlflow
import pytest
import requests

from clustering.tracking.server import LocalPostgres, TrackingServer, free_port

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts")) / "ui"
SMALL = ["data.sample.n_customers=1500", "evaluate.stability_runs=0"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def team_server(tmp_path_factory):
    """PostgreSQL + ``mlflow server --app-name basic-auth``; the clients' environment."""
    folder = tmp_path_factory.mktemp("server")
    password = secrets.token_urlsafe(12)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", password)
        mp.delenv("PGPASSWORD", raising=False)
        # PostgreSQL refuses root; its own user cannot enter pytest's private temporary folders
        pg_folder = Path(tempfile.mkdtemp(prefix="segmentation-pg-"))
        pg = LocalPostgres(pg_folder, port=free_port())
        pg.start()
        server = None
        try:
            server = TrackingServer(pg.create_database("mlflow"), pg.create_database("auth"),
                                    folder, port=free_port(), db_password=pg.password)
            server.start(log=folder / "server.log")
            env = {"MLFLOW_TRACKING_URI": server.url, "MLFLOW_TRACKING_USERNAME": "admin",
                   "MLFLOW_TRACKING_PASSWORD": password}
            for k, v in env.items():
                mp.setenv(k, v)
            mlflow.set_tracking_uri(server.url)
            yield {"url": server.url, "env": env, "folder": folder, "password": password,
                   "data": folder / "data", "postgres": pg}
        finally:
            if server is not None:
                server.stop()
            pg.stop()
            shutil.rmtree(pg_folder, ignore_errors=True)


def _client_env(team_server) -> dict[str, str]:
    return {**os.environ, **team_server["env"]}


def _make(target: str, args: str, env: dict[str, str], timeout: int = 600):
    """``make <target> ARGS="<args>"``, as the README writes it."""
    return subprocess.run(["make", "-s", target, f"ARGS={args}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained(team_server, tmp_path_factory):
    """`make train ARGS="mlflow=server ..."` against the team server; the run's id."""
    reports = tmp_path_factory.mktemp("reports")
    r = _make("train", f"mlflow=server paths.data_dir={team_server['data']} "
              f"paths.reports_dir={reports} {' '.join(SMALL)}", _client_env(team_server))
    assert r.returncode == 0, r.stderr[-3000:]
    run_id = r.stdout.split("MLflow run ")[1].split()[0]
    assert f"Open it at {team_server['url']}/#/experiments/" in r.stdout
    return run_id


def test_the_server_refuses_anyone_not_signed_in(team_server):
    r = requests.get(f"{team_server['url']}/api/2.0/mlflow/experiments/search",
                     params={"max_results": 1}, timeout=10)
    assert r.status_code == 401
    r = requests.get(f"{team_server['url']}/api/2.0/mlflow/experiments/search",
                     params={"max_results": 1}, auth=("admin", "wrong"), timeout=10)
    assert r.status_code == 401
    r = requests.get(f"{team_server['url']}/api/2.0/mlflow/experiments/search",
                     params={"max_results": 1}, auth=("admin", team_server["password"]),
                     timeout=10)
    assert r.status_code == 200


def test_a_new_admin_password_takes_over_on_restart(team_server, tmp_path, monkeypatch):
    """Rotation as the README says: restart with a new MLFLOW_AUTH_ADMIN_PASSWORD, and the new
    one signs in while the old (leaked) one is refused. MLflow alone kept the first password."""
    pg = team_server["postgres"]
    backend, auth = pg.create_database("mlflow_rotation"), pg.create_database("auth_rotation")
    first, second = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    search = "/api/2.0/mlflow/experiments/search"
    for password, refused in ((first, None), (second, first)):
        monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", password)
        server = TrackingServer(backend, auth, tmp_path, port=free_port(),
                                db_password=pg.password)
        server.start(log=tmp_path / "rotation.log")
        try:
            assert server.rotated == (refused is not None)
            ok = requests.get(server.url + search, params={"max_results": 1},
                              auth=("admin", password), timeout=10)
            assert ok.status_code == 200
            if refused:
                old = requests.get(server.url + search, params={"max_results": 1},
                                   auth=("admin", refused), timeout=10)
                assert old.status_code == 401
        finally:
            server.stop()


def test_train_and_score_on_postgres_with_artifacts_on_the_server(team_server, trained, tmp_path):
    client = mlflow.MlflowClient(team_server["url"])
    run = client.get_run(trained)
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    # the artifacts live in the server's folder, uploaded through it
    stored = {p.name for p in (team_server["folder"] / "artifacts").rglob("*") if p.is_file()}
    assert {"persona_report.html", "labels.parquet"} <= stored
    # the run and its registered version are rows in PostgreSQL, not in a file store
    mv = client.search_model_versions("name = 'segmentation-sample'")[0]
    assert mv.run_id == trained
    out = tmp_path / "labels.csv"
    r = _make("score", f"model_uri={mv.version} paths.data_dir={team_server['data']} "
              f"{SMALL[0]} output={out}", _client_env(team_server))
    assert r.returncode == 0, r.stderr[-3000:]
    assert out.exists() and out.read_text().count("\n") > 1000


def test_a_wrong_or_missing_password_is_one_line_naming_the_user(team_server, tmp_path):
    """`make score` said the model does not exist and `make train` printed a 40-line traceback
    ending in the 401."""
    wrong = {**_client_env(team_server), "MLFLOW_TRACKING_PASSWORD": "not-it"}
    r = _make("train", f"mlflow=server paths.reports_dir={tmp_path} {SMALL[0]}", wrong)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "refused the sign-in of user 'admin' (HTTP 401): set MLFLOW_TRACKING_USERNAME and " \
           "MLFLOW_TRACKING_PASSWORD" in r.stderr
    anonymous = {k: v for k, v in _client_env(team_server).items()
                 if k not in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    r = _make("score", f"paths.data_dir={team_server['data']} {SMALL[0]} "
              f"output={tmp_path / 'l.csv'}", anonymous)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "needs a sign-in, and none is given (HTTP 401)" in r.stderr
    assert len([ln for ln in r.stderr.splitlines()
                if ln.strip() and not re.match(r"make(\[\d+\])?: ", ln)]) == 1


def _member(team_server, name: str) -> dict[str, str]:
    """A team member the admin signs up; the environment of their commands."""
    password = secrets.token_urlsafe(12)
    r = requests.post(f"{team_server['url']}/api/2.0/mlflow/users/create",
                      json={"username": name, "password": password},
                      auth=("admin", team_server["password"]), timeout=10)
    assert r.status_code == 200, r.text
    return {**_client_env(team_server), "MLFLOW_TRACKING_USERNAME": name,
            "MLFLOW_TRACKING_PASSWORD": password}


def _grant(team_server, user: str, kind: str, key: str) -> None:
    r = requests.post(f"{team_server['url']}/api/3.0/mlflow/users/permissions/grant",
                      json={"username": user, "resource_type": kind, "resource_id": key,
                            "permission": "EDIT"},
                      auth=("admin", team_server["password"]), timeout=10)
    assert r.status_code == 200, r.text


def test_a_model_another_member_registered_first_is_never_loaded(team_server, tmp_path):
    """Mallory registers the dataset's model first. Alice's train (which would follow it to
    keep segment ids) and score stop in one line instead of unpickling Mallory's code; once
    the admin grants Alice EDIT on the model and its experiment, she trusts it and scores."""
    mallory, alice = _member(team_server, "mallory"), _member(team_server, "alice")
    common = f"paths.data_dir={team_server['data']} paths.reports_dir={tmp_path} {SMALL[0]}"
    r = _make("train", f"mlflow=server data.name=shared {common} evaluate.stability_runs=0",
              mallory)
    assert r.returncode == 0, r.stderr[-3000:]
    refused = "may only read it (permission READ); loading a model runs its code"
    r = _make("train", f"mlflow=server data.name=shared mlflow.experiment=alice {common} "
              "evaluate.stability_runs=0", alice)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "the registered model 'segmentation-shared'" in r.stderr and refused in r.stderr
    out = tmp_path / "labels.csv"
    score = f"model_uri=1 data.name=shared paths.data_dir={team_server['data']} {SMALL[0]} " \
            f"output={out}"
    r = _make("score", score, alice)
    assert r.returncode == 2 and "Traceback" not in r.stderr and refused in r.stderr, r.stderr
    assert not out.exists()
    client = mlflow.MlflowClient(team_server["url"])
    version = client.get_model_version("segmentation-shared", "1")
    _grant(team_server, "alice", "registered_model", "segmentation-shared")
    r = _make("score", score, alice)  # the files' experiment is still Mallory's alone
    assert r.returncode == 2 and "the experiment" in r.stderr and refused in r.stderr, r.stderr
    _grant(team_server, "alice", "experiment", client.get_run(version.run_id).info.experiment_id)
    r = _make("score", score, alice)
    assert r.returncode == 0, r.stderr[-3000:]
    assert out.read_text().count("\n") > 1000


def _sweep(env: dict[str, str], data: Path, folder: Path, experiment: str):
    return subprocess.run(
        [sys.executable, str(ROOT / "pipelines" / "sweep.py"), "--metric", "silhouette",
         "--experiment", experiment, f"paths.data_dir={data}", f"paths.reports_dir={folder}",
         *SMALL, "model=kmeans,gmm", "model.k=3,4", "preprocess=standard",
         "evaluate.holdout_days=0", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={folder / 'mr'}"],
        capture_output=True, text=True, env=env, timeout=900)


def _parallel_sweeps(env: dict[str, str], data: Path, tmp_path: Path, uri: str) -> None:
    """Two sweeps (4 jobs each, 2 at a time) started together on one store: every job of both
    is a FINISHED run, nothing lost, every name unique."""
    results: dict[str, subprocess.CompletedProcess] = {}

    def go(name: str) -> None:
        results[name] = _sweep(env, data, tmp_path / name, "parallel-sweeps")

    threads = [threading.Thread(target=go, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, r in results.items():
        assert r.returncode == 0, f"sweep {name}: {r.stdout[-3000:]} {r.stderr[-6000:]}"
    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("parallel-sweeps")
    runs = client.search_runs([exp.experiment_id], "tags.kind = 'clustering'", max_results=100)
    assert len(runs) == 8 and all(x.info.status == "FINISHED" for x in runs)
    assert len({x.info.run_name for x in runs}) == 8
    assert len({x.data.tags["sweep"] for x in runs}) == 2
    sweeps = client.search_runs([exp.experiment_id], "tags.kind = 'sweep'")
    assert len(sweeps) == 2 and all(x.info.status == "FINISHED" for x in sweeps)


def test_parallel_sweeps_on_the_team_server_lose_no_run(team_server, tmp_path):
    _parallel_sweeps(_client_env(team_server), team_server["data"], tmp_path, team_server["url"])


def test_parallel_sweeps_on_a_new_sqlite_store_lose_no_run(team_server, tmp_path):
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    _parallel_sweeps({**env, "MLFLOW_TRACKING_URI": uri}, team_server["data"], tmp_path, uri)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Chromium is missing: `make browser` installs the distribution's package"
    return path


def test_the_mlflow_ui_shows_metrics_baselines_and_the_persona_report(team_server, trained):
    """What a data scientist sees, in a real browser signed in as the admin."""
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    run = mlflow.MlflowClient(team_server["url"]).get_run(trained)
    exp = run.info.experiment_id
    base = f"{team_server['url']}/#/experiments/{exp}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_context(
                viewport={"width": 1400, "height": 1000},
                http_credentials={"username": "admin", "password": team_server["password"]},
            ).new_page()
            page.set_default_timeout(30_000)

            # the runs table in the Model training mode; "+" unfolds the baseline runs
            page.goto(f"{base}/runs?workflowType=machine_learning")
            row = page.get_by_role("row").filter(has_text=run.info.run_name[:30]).first
            expect(row).to_be_visible()
            row.locator("button[data-component-id*='runnamecellrenderer']").first.click()
            for baseline in ("rfm", "abc_xyz", "bcg", "lifecycle", "value_class"):
                expect(page.get_by_text(f"baseline-{baseline}-sample").first).to_be_visible()
            page.screenshot(path=str(SHOTS / "runs_with_baselines.png"), full_page=True)

            # the run's page: the verdict in words as its description, the key metrics
            page.goto(f"{base}/runs/{trained}?workflowType=machine_learning")
            verdict = run.data.tags["verdict"]
            expect(page.get_by_text(verdict[:40]).first).to_be_visible()
            for metric in ("future_auc_repeat", "persona_fit", "business_separation",
                           "silhouette"):
                expect(page.get_by_text(metric, exact=True).first).to_be_visible()
            page.screenshot(path=str(SHOTS / "run_metrics.png"), full_page=True)


            # the artifacts: the persona report, rendered with its personas
            page.goto(f"{base}/runs/{trained}/artifacts/report/persona_report.html"
                      "?workflowType=machine_learning")
            expect(page.get_by_text("persona_report.html").first).to_be_visible()
            frame = page.frame_locator("iframe").first
            expect(frame.get_by_role("heading", name="Customer personas").first).to_be_visible()
            expect(frame.get_by_role("heading", name="Personas: who they are and what to do")
                   .first).to_be_visible()
            page.screenshot(path=str(SHOTS / "persona_report_artifact.png"), full_page=True)

            # the chart of the segments beside each baseline on the hold-out (another file of
            # the artifacts view: the page is loaded afresh, a changed hash keeps the old file)
            page.goto(f"{base}/runs/{trained}/artifacts/plots/holdout_comparison.png"
                      "?workflowType=machine_learning")
            page.reload()
            expect(page.get_by_text("holdout_comparison.png").first).to_be_visible()
            expect(page.locator("img").last).to_be_visible()
            page.screenshot(path=str(SHOTS / "holdout_comparison.png"), full_page=True)
        finally:
            browser.close()
    assert all((SHOTS / n).stat().st_size > 10_000 for n in
               ("runs_with_baselines.png", "run_metrics.png", "holdout_comparison.png",
                "persona_report_artifact.png"))
