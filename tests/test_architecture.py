"""The package's shape, held by tests: MXNet's functions stay MXNet's unless a
memory-efficient net asks otherwise."""
import json
import subprocess
import sys

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
