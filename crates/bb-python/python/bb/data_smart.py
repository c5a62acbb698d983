"""bb.data_smart: the exception and evaluation context of expansion (written for
Hitzeleiter; the datastore itself is native)."""
import builtins

import bb


class ExpansionError(Exception):
    def __init__(self, msg, expression=None, exception=None):
        self.msg = msg
        self.expression = expression
        self.exception = exception
        Exception.__init__(self, msg)

    def __str__(self):
        return self.msg


class DataContext(dict):
    """Locals of `${@...}`: `d`, and any bare name read through d.getVar. (The host makes
    its instances natively, with the attributes `__init__` sets: keep the two alike.)"""

    excluded = set([i for i in dir(builtins) if not i.startswith("_")] + ["oe"])

    def __init__(self, metadata, **kwargs):
        self.metadata = metadata
        dict.__init__(self, **kwargs)
        self["d"] = metadata
        self.context = bb.utils._context

    def __missing__(self, key):
        if key in self.excluded or key in self.context:
            raise KeyError(key)
        value = self.metadata.getVar(key)
        if value is None:
            raise KeyError(key)
        return value
