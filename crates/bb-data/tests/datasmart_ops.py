"""Apply sequences of datastore operations to the real BitBake DataSmart (bitbake-setup
2.19.0) and print what each read returns, one JSON list per sequence. The differential
test tests/datasmart.rs applies the same sequences to bb-data and compares.

Usage: python datasmart_ops.py SEQUENCES.json
"""
import json
import sys
import types

hashserv = types.ModuleType("hashserv")
hashserv.client = types.ModuleType("hashserv.client")
sys.modules["hashserv"] = hashserv
sys.modules["hashserv.client"] = hashserv.client
sys.setrecursionlimit(400)

import bb  # noqa: E402
import bb.data  # noqa: E402
import bb.data_smart  # noqa: E402


def show(value):
    if value is None or isinstance(value, str):
        return value
    return str(value)


def run(ops):
    d = bb.data_smart.DataSmart()
    out = []
    for op in ops:
        kind = op[0]
        try:
            if kind == "set":
                if op[3]:
                    d.setVar(op[1], op[2], parsing=True)
                else:
                    d.setVar(op[1], op[2])
            elif kind == "setflag":
                d.setVarFlag(op[1], op[2], op[3])
            elif kind == "del":
                d.delVar(op[1])
            elif kind == "delflag":
                d.delVarFlag(op[1], op[2])
            elif kind == "append":
                d.appendVar(op[1], op[2])
            elif kind == "prepend":
                d.prependVar(op[1], op[2])
            elif kind == "rename":
                d.renameVar(op[1], op[2])
            elif kind == "expandkeys":
                bb.data.expandKeys(d)
            elif kind == "copy":
                d = bb.data.createCopy(d)
            elif kind == "get":
                out.append(show(d.getVar(op[1])))
            elif kind == "raw":
                out.append(show(d.getVar(op[1], False)))
            elif kind == "getflag":
                out.append(show(d.getVarFlag(op[1], op[2])))
            elif kind == "keys":
                out.append(sorted(k for k in d.keys() if not k.startswith("__")))
        except Exception as err:  # noqa: BLE001 - any failure is compared by kind
            out.append({"error": type(err).__name__})
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        sequences = json.load(f)
    for ops in sequences:
        print(json.dumps(run(ops)))


main()
