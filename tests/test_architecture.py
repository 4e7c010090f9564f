"""The package's shape, held by tests: each part imports only the parts below it
(docs/architecture.md), no modules import each other in a circle, and MXNet's functions stay
MXNet's unless a memory-efficient net asks otherwise."""
import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gluon_densenet"
ROOT_NAME = PACKAGE.name

#: docs/architecture.md's table: part → the parts it may import (besides itself).
FOUNDATIONS = {"validation", "atomic_files", "runtime"}
ALLOWED = {
    "validation": set(),
    "atomic_files": set(),
    "runtime": {"validation", "atomic_files"},
    "models": FOUNDATIONS,
    "data": FOUNDATIONS,
    "pretrained": FOUNDATIONS | {"models"},
    "distributed": FOUNDATIONS,
    "training": FOUNDATIONS | {"models", "data", "distributed"},
    "analysis": FOUNDATIONS | {"models", "data", "distributed", "training"},
    "plots": FOUNDATIONS | {"training"},
    "chapters": FOUNDATIONS,
    "cli": FOUNDATIONS | {"models", "data", "pretrained", "distributed", "training",
                          "analysis", "plots", "chapters", "__init__"},
    "__main__": {"cli"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its file (inside functions
    too), relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:      # a name inside a module
                target = target.rpartition(".")[0]
            if target.startswith(ROOT_NAME) and target != name:
                found.add(target)
    return found


def _part(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def test_every_part_imports_only_the_parts_below_it():
    graph = _graph()
    assert set(map(_part, graph)) <= set(ALLOWED) | {"__init__"}, "a part the table lacks"
    wrong = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                   if _part(a) != "__init__" and _part(b) != _part(a)
                   and _part(b) not in ALLOWED[_part(a)])
    assert wrong == []


def test_no_modules_import_each_other_in_a_circle():
    graph = _graph()
    circles, state = [], {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if nxt == node.rpartition(".")[0]:        # a module's own package face
                continue
            if state.get(nxt) == "open":
                circles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == []


def test_the_checker_sees_a_wrong_import(tmp_path):
    # The rules can fail: an import of pretrained/ from models/ would be refused.
    path = tmp_path / "densenet.py"
    path.write_text("def f():\n    from ..pretrained import model_zoo\n")
    known = set(_modules())
    found = _imports("gluon_densenet.models.densenet", path, known)
    assert "gluon_densenet.pretrained.model_zoo" in found
    assert "pretrained" not in ALLOWED["models"]

#: A fresh process: note every attribute of MXNet's core classes and modules, import what a
#: user imports, build and train a net, then list the attributes that were replaced.
PROBE = """
import json
import mxnet as mx
from mxnet import autograd, gluon, nd

owners = {"NDArray": nd.NDArray, "Block": gluon.Block, "HybridBlock": gluon.HybridBlock,
          "Trainer": gluon.Trainer, "Parameter": gluon.Parameter, "autograd": autograd,
          "nd": nd, "nn": gluon.nn, "optimizer": mx.optimizer, "kv": mx.kv, "mx": mx}
before = {(o, k): v for o, owner in owners.items() for k, v in list(vars(owner).items())}

import gluon_densenet
import gluon_densenet.analysis.memory, gluon_densenet.chapters, gluon_densenet.cli
import gluon_densenet.distributed, gluon_densenet.plots, gluon_densenet.pretrained
import gluon_densenet.training
from gluon_densenet import get_model
from gluon_densenet.training import compute_gradients, fast_hybridize

net = get_model("densenet_tiny", memory_efficient=MEMORY_EFFICIENT)
net.initialize()
fast_hybridize(net)
trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
compute_gradients(net, nd.ones((2, 3, 32, 32)), nd.zeros((2,)),
                  gluon.loss.SoftmaxCrossEntropyLoss())
trainer.step(2)
changed = [f"{o}.{k}" for (o, k), v in before.items() if vars(owners[o]).get(k) is not v]
print(json.dumps(changed))
"""


def _foreign_functions(memory_efficient: bool) -> list[str]:
    code = PROBE.replace("MEMORY_EFFICIENT", str(memory_efficient))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_ordinary_net_leaves_mxnet_unpatched():
    assert _foreign_functions(memory_efficient=False) == []


def test_only_a_memory_efficient_net_wraps_backward():
    # The probe can see a patch: the replay wraps the two backward functions, and only those.
    assert sorted(_foreign_functions(memory_efficient=True)) == ["NDArray.backward",
                                                                 "autograd.backward"]


def test_every_public_name_resolves():
    # The face loads names on first use: a module moved without its entry fails here.
    code = ("import gluon_densenet as g, json\n"
            "print(json.dumps({n: getattr(getattr(g, n), '__module__', 'gluon_densenet')\n"
            "                  for n in g.__all__}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]
    homes = json.loads(done.stdout)
    assert len(homes) >= 40 and all(home.startswith(ROOT_NAME) for home in homes.values())
