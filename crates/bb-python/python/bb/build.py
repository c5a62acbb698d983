"""bb.build: running functions and managing tasks from metadata (written for Hitzeleiter)."""
import _hz

import bb


class FuncFailed(Exception):
    pass


def exec_func(func, d, dirs=None):
    """Run a function stored in the datastore. Python functions run in the metadata's
    python context; shell functions run only when tasks execute (not while parsing)."""
    body = d.getVar(func, False)
    if body is None:
        bb.warn("Function %s doesn't exist" % func)
        return
    if d.getVarFlag(func, "python", False):
        import hz_host
        hz_host.exec_func(func, d)
    else:
        raise FuncFailed("Shell function %s cannot run while parsing" % func)


def addtask(task, before, after, d):
    _hz.addtask(task, before or "", after or "", d)


def deltask(task, d):
    _hz.deltask(task, d)

