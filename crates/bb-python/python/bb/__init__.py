"""BitBake's `bb` package as metadata sees it, hosted by Hitzeleiter.

Written for Hitzeleiter from BitBake's documented behaviour; the datastore (`d`) and
logging are provided by the host through the native `_hz` module.
"""
import multiprocessing as _mp

import _hz

__version__ = "2.19.0"

# BitBake hands out a "fork" context (Python 3.14 defaults to forkserver): layers write
# `from bb import multiprocessing`.
multiprocessing = _mp.get_context("fork")


class BBHandledException(Exception):
    """An error already reported to the user (bb.fatal raises it)."""


def _join(args):
    return "".join(str(a) for a in args)


def plain(*args, **kwargs):
    _hz.log("plain", _join(args))


def debug(lvl, *args, **kwargs):
    # Debug messages are not shown at BitBake's default verbosity (the only one parsing
    # has): they are not even joined. A level that is a string is BitBake's warning.
    if isinstance(lvl, str):
        warn("Passed invalid debug level '%s' to bb.debug" % lvl)


def note(*args, **kwargs):
    _hz.log("note", _join(args))


def verbnote(*args, **kwargs):
    _hz.log("note", _join(args))


def warn(*args, **kwargs):
    _hz.log("warning", _join(args))


warning = warn


def error(*args, **kwargs):
    _hz.log("error", _join(args))


_once = set()


def erroronce(*args):
    message = _join(args)
    if message not in _once:
        _once.add(message)
        _hz.log("error", message)


def fatal(*args, **kwargs):
    message = _join(args)
    _hz.log("critical", message)
    # The message also travels with the exception, so that a caller whose log is not
    # shown (a failed configuration parse) can still say what went wrong.
    raise BBHandledException(message)


from bb import utils, data, data_smart, parse, build, event  # noqa: E402,F401
import sys as _sys  # noqa: E402
from bb import fetch2 as fetch  # noqa: E402,F401
# Metadata writes `bb.fetch` and `bb.fetch2` interchangeably.
_sys.modules["bb.fetch"] = _sys.modules["bb.fetch2"]
