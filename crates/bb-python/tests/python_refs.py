"""Print what BitBake's own PythonParser (bitbake-setup 2.19.0) finds in python code: one
JSON line per snippet with its references, execs and contains, or {"error": true}. The
differential test tests/python_refs.rs compares bb-python's analysis with it.

Usage: python python_refs.py SNIPPETS.json
"""
import json
import logging
import sys
import types

hashserv = types.ModuleType("hashserv")
hashserv.client = types.ModuleType("hashserv.client")
sys.modules["hashserv"] = hashserv
sys.modules["hashserv.client"] = hashserv.client

import bb  # noqa: E402
import bb.codeparser  # noqa: E402

logger = logging.getLogger("python")
with open(sys.argv[1]) as f:
    snippets = json.load(f)
for code in snippets:
    parser = bb.codeparser.PythonParser("test", logger)
    try:
        parser.parse_python(code)
    except Exception:
        print(json.dumps({"error": True}))
        continue
    print(json.dumps({
        "references": sorted(parser.references),
        "execs": sorted(parser.execs),
        "contains": {k: sorted(v) for k, v in sorted(parser.contains.items())},
    }))
