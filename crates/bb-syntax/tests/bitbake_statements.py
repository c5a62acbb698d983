"""Parse metadata files with the real BitBake (the `bb` package of bitbake-setup 2.19.0)
and print, per file, one JSON line with the statements its handlers produce, the first
error and the warnings. Used by tests/bitbake_oracle.rs as a differential oracle.

Usage: python bitbake_statements.py LISTFILE   (one path per line)
Only BitBake's parsing runs: the statements are captured before evaluation.
"""
import json
import logging
import sys
import types

# bb.siggen imports hashserv, which the wheel lacks; parsing never calls it.
hashserv = types.ModuleType("hashserv")
hashserv.client = types.ModuleType("hashserv.client")
sys.modules["hashserv"] = hashserv
sys.modules["hashserv.client"] = hashserv.client

import bb  # noqa: E402
import bb.data  # noqa: E402
import bb.parse  # noqa: E402
from bb.parse import ast  # noqa: E402
from bb.parse.parse_py import BBHandler, ConfHandler  # noqa: E402

OPS = ["colon", "lazyques", "ques", "append", "prepend", "predot", "postdot"]


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def describe(node):
    kind = type(node).__name__
    out = {"type": kind, "lineno": node.lineno}
    if kind == "DataNode":
        g = node.groupd
        op = next((name for name in OPS if g.get(name) is not None), "set")
        out.update(var=g["var"], flag=g["flag"], op=op, value=g["value"], export=g["exp"] is not None)
    elif kind == "MethodNode":
        out.update(name=node.func_name, body="\n".join(node.body), python=bool(node.python), fakeroot=bool(node.fakeroot))
    elif kind == "PythonMethodNode":
        out.update(name=node.function, body="\n".join(node.body))
    elif kind == "IncludeNode":
        out.update(what=node.what_file, force=bool(node.force))
    elif kind == "IncludeAllNode":
        out.update(what=node.what_file)
    elif kind in ("ExportNode", "UnsetNode"):
        out.update(var=node.var)
    elif kind == "UnsetFlagNode":
        out.update(var=node.var, flag=node.flag)
    elif kind == "ExportFuncsNode":
        out.update(names=node.n)
    elif kind == "AddTaskNode":
        out.update(tasks=node.tasks, before=node.before, after=node.after)
    elif kind == "DelTaskNode":
        out.update(tasks=node.tasks)
    elif kind == "BBHandlerNode":
        out.update(names=node.hs)
    elif kind == "PyLibNode":
        out.update(libdir=node.libdir, namespace=node.namespace)
    elif kind == "InheritNode":
        out.update(classes=node.classes)
    elif kind == "InheritDeferredNode":
        out.update(classes=node.inherit[0])
    elif kind == "AddFragmentsNode":
        out.update(parts=[node.fragments_path_prefix, node.fragments_variable,
                          node.flagged_variables_list_variable, node.builtin_fragments_variable])
    return out


def parse_recipe_like(path):
    BBHandler.cached_statements = {}
    for name, value in (("__residue__", []), ("__body__", []), ("__infunc__", []),
                        ("__inpython__", False), ("__classname__", "")):
        setattr(BBHandler, name, value)
    return list(BBHandler.get_statements(path, path, path.rsplit("/", 1)[-1]))


def parse_conf(path):
    captured = []
    original = ast.StatementGroup.eval
    ast.StatementGroup.eval = lambda self, data: captured.extend(self)
    try:
        ConfHandler.handle(path, bb.data.init(), 0, baseconfig=True)
    finally:
        ast.StatementGroup.eval = original
    return captured


def main():
    capture = Capture()
    logging.getLogger("BitBake").addHandler(capture)
    logging.getLogger("BitBake").propagate = False
    with open(sys.argv[1], encoding="utf-8") as listing:
        paths = [line.rstrip("\n") for line in listing if line.strip()]
    for path in paths:
        capture.messages = []
        result = {"path": path, "statements": [], "error": None}
        try:
            nodes = parse_conf(path) if path.endswith(".conf") else parse_recipe_like(path)
            result["statements"] = [describe(n) for n in nodes]
        except bb.parse.ParseError as err:
            result["error"] = {"type": "ParseError", "line": err.lineno, "message": err.msg}
        except Exception as err:  # bb.fatal, UnicodeDecodeError, IndexError, …
            result["error"] = {"type": type(err).__name__, "line": None, "message": str(err)}
        result["warnings"] = capture.messages
        print(json.dumps(result))


main()
