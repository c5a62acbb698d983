"""Print what BitBake's own ShellParser (bitbake-setup 2.19.0) finds in shell scripts:
one JSON line per script, the sorted execs or {"error": true}. The differential test
tests/shell.rs compares bb_data::shell_execs with it.

Usage: python shell_execs.py SCRIPTS.json
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

logger = logging.getLogger("shell")
logging.getLogger("BitBake").setLevel(logging.CRITICAL)
bb.error = lambda *args, **kwargs: None

with open(sys.argv[1]) as f:
    scripts = json.load(f)
for script in scripts:
    parser = bb.codeparser.ShellParser("test", logger)
    try:
        print(json.dumps(sorted(parser.parse_shell(script))))
    except Exception:
        print(json.dumps({"error": True}))
