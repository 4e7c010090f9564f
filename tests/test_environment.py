"""The conda environment, pyproject and the package's imports must agree."""
import ast
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: import name → distribution name, where they differ.
DISTRIBUTION = {"mxnet": "mxnet", "yaml": "pyyaml", "sklearn": "scikit-learn"}


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements):
    return {r.split("==")[0].lower() for r in requirements}


def _third_party_imports(paths):
    """Top-level modules imported by the given files, standard library excluded."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    local = {p.name for p in ROOT.iterdir() if p.is_dir()}       # gluon_densenet, benchmarks
    return {m for m in found if m not in sys.stdlib_module_names and m not in local}


def test_conda_environment_installs_the_pyproject_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert pip == ["-e .[cpu,notebooks,test,classroom,book]"]
    assert "python=3.11" in deps and _pyproject()["requires-python"] == ">=3.11,<3.12"


def test_every_pin_is_exact():
    project = _pyproject()
    pins = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    assert all("==" in p for p in pins), pins


def test_runtime_dependencies_are_what_the_package_imports():
    project = _pyproject()
    imported = _third_party_imports((ROOT / "gluon_densenet").rglob("*.py"))
    # IPython is only imported, guarded, inside Jupyter (plots.live_plot); torch only to read
    # a .pth file (pretrained.torchvision), with an error that says to install it.
    imported -= {"IPython", "torch"}
    declared = _names(project["dependencies"]) | {"mxnet"}
    assert {DISTRIBUTION.get(m, m) for m in imported} == declared


def test_what_tests_import_is_declared():
    project = _pyproject()
    declared = (_names(project["dependencies"]) | {"mxnet"}
                | _names(sum(project["optional-dependencies"].values(), [])))
    imported = _third_party_imports((ROOT / "tests").glob("**/*.py"))
    # torch/torchvision are optional side-by-side contenders, skipped when absent; a test
    # module may import a helper from another, or a stand-in script from tests/stand_ins.
    imported -= {"torch", "torchvision"} | {p.stem for p in (ROOT / "tests").glob("**/*.py")}
    assert {DISTRIBUTION.get(m, m) for m in imported} <= declared


def test_what_chapters_import_is_declared():
    project = _pyproject()
    declared = (_names(project["dependencies"]) | {"mxnet"}
                | _names(project["optional-dependencies"]["notebooks"]))
    imported = _third_party_imports((ROOT / "notebooks").glob("*.py"))
    # matplotlib_inline and IPython come with Jupyter (d2l's jupyter, ipykernel); torch and
    # torchvision are optional (chapter 2 skips torchvision's half without them)
    imported -= {"IPython", "matplotlib_inline", "torch", "torchvision"}
    missing = {DISTRIBUTION.get(m, m) for m in imported} - declared
    assert not missing, f"chapters import {sorted(missing)}, not in the notebooks extra"


def test_what_classroom_imports_is_declared():
    project = _pyproject()
    declared = (_names(project["dependencies"]) | {"mxnet", "traitlets", "sqlalchemy"}  # nbgrader's
                | _names(project["optional-dependencies"]["notebooks"])
                | _names(project["optional-dependencies"]["classroom"]))
    imported = _third_party_imports((ROOT / "classroom").glob("*.py"))
    assert {DISTRIBUTION.get(m, m) for m in imported} <= declared


def test_running_on_supported_python():
    assert sys.version_info[:2] == (3, 11)


def test_what_the_book_imports_is_declared():
    project = _pyproject()
    declared = (_names(project["dependencies"])
                | _names(project["optional-dependencies"]["notebooks"])
                | _names(project["optional-dependencies"]["book"]))
    imported = _third_party_imports((ROOT / "book").glob("*.py"))
    assert {DISTRIBUTION.get(m, m) for m in imported} <= declared
