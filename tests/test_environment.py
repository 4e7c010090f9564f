"""The conda environment and pyproject must pin the same stack."""
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _conda_pip():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    return python, pip


def test_environment_pins_match_pyproject():
    project = _pyproject()
    python, pip = _conda_pip()
    expected = set(project["dependencies"]) | set(project["optional-dependencies"]["cpu"])
    assert set(p for p in pip if not p.startswith("-e")) == expected
    assert "-e ." in pip
    assert python == "python=3.11" and project["requires-python"] == ">=3.11,<3.12"


def test_every_pin_is_exact():
    project = _pyproject()
    pins = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    assert all("==" in p for p in pins), pins


def test_running_on_supported_python():
    assert sys.version_info[:2] == (3, 11)
