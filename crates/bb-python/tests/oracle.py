"""Evaluate one conformance case with the real BitBake library (bitbake-setup 2.19.0), the
way its cooker does, and print what it gives in the `expect` schema of
../shared/conformance/README.md. tests/conformance.rs compares Hitzeleiter with it on the
cases of testdata/conformance/.

Usage (in the case's directory, one process per case): python oracle.py CASE.json
"""
import json
import logging
import os
import sys
import types

hashserv = types.ModuleType("hashserv")
hashserv.client = types.ModuleType("hashserv.client")
sys.modules["hashserv"] = hashserv
sys.modules["hashserv.client"] = hashserv.client

import bb  # noqa: E402
import bb.cookerdata  # noqa: E402
import bb.data  # noqa: E402
import bb.parse  # noqa: E402


class Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        if record.levelno == logging.WARNING:
            self.messages.append(record.getMessage())


def plain(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


def read(fn):
    try:
        return plain(fn())
    except Exception as e:
        return {"__error__": type(e).__name__}


def vardeps(d, key):
    mod_funcs = set(bb.codeparser.modulecode_deps.keys())
    keys = set(k for k in d if not k.startswith("__")) | mod_funcs
    shelldeps = set(k for k in (d.getVar("__exportlist", False) or [])
                    if bb.utils.to_boolean(d.getVarFlag(k, "export"))
                    and not bb.utils.to_boolean(d.getVarFlag(k, "unexport")))
    varflagsexcl = (d.getVar("BB_SIGNATURE_EXCLUDE_FLAGS") or "").split()
    ignored = set((d.getVar("BB_BASEHASH_IGNORE_VARS") or "").split())
    codeparserd = d.createCopy()
    for forced in (d.getVar("BB_HASH_CODEPARSER_VALS") or "").split():
        k, v = forced.split("=", 1)
        codeparserd.setVar(k, v)
    deps, value = bb.data.build_dependencies(key, keys, mod_funcs, shelldeps, varflagsexcl,
                                             ignored, d, codeparserd)
    return {"deps": sorted(deps), "value": value}


def history_event(event):
    return {"op": event.get("op"), "file": event.get("file"), "line": event.get("line"),
            "func": event.get("func"), "flag": event.get("flag"),
            "detail": str(event.get("detail"))}


def results(d, query):
    out = {}
    if "history" in query:
        out["history"] = {v: [history_event(e) for e in d.varhistory.variable(v)]
                          for v in query["history"]}
    if "vars" in query:
        out["vars"] = {v: read(lambda: d.getVar(v)) for v in query["vars"]}
    if "raw" in query:
        out["raw"] = {v: read(lambda: d.getVar(v, False)) for v in query["raw"]}
    if "flags" in query:
        out["flags"] = {}
        for key in query["flags"]:
            var, flag = key.rstrip("]").split("[", 1)
            out["flags"][key] = read(lambda: d.getVarFlag(var, flag))
    if "exprs" in query:
        out["exprs"] = {e: read(lambda: d.expand(e)) for e in query["exprs"]}
    if query.get("tasks"):
        out["tasklist"] = plain(d.getVar("__BBTASKS", False) or [])
        out["tasks"] = {t: read(lambda: d.getVarFlag(t, "deps", False)) for t in out["tasklist"]}
    if query.get("task_deps"):
        out["task_deps"] = read(lambda: d.getVar("_task_deps", False))
    if query.get("exported"):
        out["exported"] = sorted(bb.data.exported_keys(d))
    if "keys_matching" in query:
        out["keys"] = sorted(k for k in d.keys() if k.startswith(query["keys_matching"]))
    if "vardeps" in query:
        out["vardeps"] = {k: read(lambda: vardeps(d, k)) for k in query["vardeps"]}
    skipped = d.getVar("__SKIPPED", False)
    if skipped:
        out["skipped"] = plain(skipped)
    return out


def main():
    with open(sys.argv[1]) as f:
        case = json.load(f)
    root = os.getcwd()
    warnings = Warnings()
    logging.getLogger("BitBake").addHandler(warnings)
    config = bb.cookerdata.CookerConfiguration()
    config.env = {}
    config.tracking = bool(case.get("query", {}).get("history"))
    builder = bb.cookerdata.CookerDataBuilder(config)
    try:
        builder.parseBaseConfiguration()
    except BaseException as e:
        print(json.dumps({"error": type(e).__name__, "error_phase": "config",
                          "error_message": str(e)}))
        return
    recipe = os.path.join(root, case["recipe"])
    appends = [os.path.join(root, a) for a in case.get("appends", [])]
    try:
        stores = builder.parseRecipeVariants(recipe, appends, layername="meta")
    except BaseException as e:
        print(json.dumps({"error": type(e).__name__, "error_phase": "recipe",
                          "error_message": str(e)}))
        return
    query = case.get("query", {})
    expect = results(stores[""], query)
    expect["variants"] = sorted(v for v in stores if v)
    if query.get("variants"):
        expect["variant_results"] = {v: results(stores[v], query) for v in query["variants"]}
    if warnings.messages:
        expect["warnings"] = warnings.messages
    print(json.dumps(expect))


main()
