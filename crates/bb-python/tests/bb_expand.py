"""Expand `${@expr}` for each expression with the real BitBake datastore and print the
results as a JSON list. Usage: python bb_expand.py INPUT.json"""
import json
import sys
import types

hashserv = types.ModuleType("hashserv")
hashserv.client = types.ModuleType("hashserv.client")
sys.modules["hashserv"] = hashserv
sys.modules["hashserv.client"] = hashserv.client

import bb  # noqa: E402
import bb.data  # noqa: E402
import bb.fetch2  # noqa: E402
import bb.parse  # noqa: E402
import bb.utils  # noqa: E402

with open(sys.argv[1], encoding="utf-8") as f:
    payload = json.load(f)
d = bb.data.init()
for var, value in payload["variables"]:
    d.setVar(var, value)
out = []
for expression in payload["expressions"]:
    try:
        out.append(d.expand("${@%s}" % expression))
    except Exception as err:  # noqa: BLE001 - reported as text, compared as such
        out.append("error: %s" % err)
print(json.dumps(out))
