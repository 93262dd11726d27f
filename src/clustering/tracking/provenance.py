"""What a run ran with: the project's git commit and the versions of the packages that shape
results."""

from __future__ import annotations

import subprocess
from pathlib import Path

import mlflow


def log_environment() -> None:
    """Python, platform, thread settings and the versions of the packages that shape results."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    lines = [f"python=={platform.python_version()}", f"platform: {platform.platform()}"]
    for p in ["numpy", "pandas", "scikit-learn", "scipy", "duckdb", "hdbscan", "fastcluster",
              "mlflow", "hydra-core", "pyarrow", "threadpoolctl"]:
        try:
            lines.append(f"{p}=={version(p)}")
        except PackageNotFoundError:
            continue
    try:
        from threadpoolctl import threadpool_info

        lines += [f"threadpool: {i.get('internal_api')} {i.get('num_threads')} threads"
                  for i in threadpool_info()]
    except Exception:  # informational only
        pass
    mlflow.log_text("\n".join(lines) + "\n", "environment/packages.txt")
    mlflow.set_tag("python_version", platform.python_version())


def git_commit(root: str | Path) -> str:
    """The project's git commit (``+dirty`` when the tree has changes), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except Exception:
        return "unknown"
