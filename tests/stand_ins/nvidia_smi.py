"""A stand-in for ``nvidia-smi --query-gpu=… --format=csv,noheader,nounits``.

Reads the machine to imitate from the JSON file named by ``STAND_IN_NVIDIA_SMI``:
``{"gpus": [{field: value, …}], "fields": [the fields this driver knows] | null,
"fail": [exit status, message] | null}``. Like the real tool, it rejects a field its driver
does not know (``Field "compute_cap" is not a valid field to query.``, status 2) and answers
in the order the fields were asked for. Every call is appended to ``STAND_IN_NVIDIA_SMI``.log.
"""
import json
import os
import sys

ALL_FIELDS = ("index", "uuid", "pci.bus_id", "name", "driver_version", "memory.total",
              "compute_cap")


def main(argv: list[str]) -> int:
    spec_path = os.environ["STAND_IN_NVIDIA_SMI"]
    with open(spec_path + ".log", "a") as log:
        log.write(" ".join(argv) + "\n")
    with open(spec_path) as f:
        spec = json.load(f)
    if spec.get("fail"):
        status, message = spec["fail"]
        print(message)
        return status
    query = next((a.split("=", 1)[1] for a in argv if a.startswith("--query-gpu=")), None)
    if query is None or "--format=csv,noheader,nounits" not in argv:
        print("stand-in nvidia-smi: only --query-gpu=… --format=csv,noheader,nounits is imitated")
        return 2
    known = spec.get("fields") or ALL_FIELDS
    fields = query.split(",")
    for field in fields:
        if field not in known:
            print(f'Field "{field}" is not a valid field to query.\n')
            return 2
    if not spec["gpus"]:
        print("No devices were found")
        return 6
    for gpu in spec["gpus"]:
        print(", ".join(str(gpu[field]) for field in fields))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
