"""The walkthrough notebook runs top to bottom on a small training run and is stored clean."""

from __future__ import annotations

import json

import nbformat
import pytest
from hydra import compose, initialize_config_dir
from nbclient import NotebookClient

from clustering.training import run_training
from pipelines.common import CONF_DIR, PROJECT_ROOT, to_settings

NOTEBOOK = PROJECT_ROOT / "notebooks" / "segmentation_walkthrough.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    assert all(not c.get("outputs") and not c.get("execution_count")
               for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.slow
def test_notebook_executes_on_a_small_run(tmp_path, mlflow_uri, monkeypatch):
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        cfg = compose("train", overrides=[f"paths.data_dir={tmp_path}", f"paths.reports_dir={tmp_path}",
                                          "data.sample.n_customers=3000", "model.k=5"])
    settings, resolved = to_settings(cfg)
    champion = run_training(settings, resolved=resolved)  # the first version: champion
    with initialize_config_dir(config_dir=CONF_DIR, version_base=None):
        later = compose("train", overrides=[f"paths.data_dir={tmp_path}",
                                            f"paths.reports_dir={tmp_path}",
                                            "data.sample.n_customers=3000", "model.k=3",
                                            "mlflow.log_model=false"])
    run_training(*to_settings(later)[:1])  # newer, but not what score and serve use
    monkeypatch.setenv("PROJECT_ROOT", str(PROJECT_ROOT))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = json.dumps([o for o in outputs])
    assert "future_auc_repeat" in text and "rfm" in text
    assert champion.run_id in text  # it opened the champion's run, not the newest
