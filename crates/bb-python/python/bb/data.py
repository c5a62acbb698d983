"""bb.data: module-level datastore helpers (written for Hitzeleiter)."""
import _hz


def init():
    return _hz.new_datastore()


def createCopy(source):
    return source.createCopy()


def expand(s, d, varname=None):
    return d.expand(s, varname)


def inherits_class(klass, d):
    found = d._inherits_class(klass) if hasattr(d, "_inherits_class") else None
    if found is not None:
        return found
    val = d.getVar("__inherit_cache", False) or []
    needle = "/%s.bbclass" % klass
    for v in val:
        if v.endswith(needle):
            return True
    return False


def expandKeys(alterdata, readdata=None):
    alterdata.expandKeys()


def exported_keys(d):
    return (key for key in d.keys() if not key.startswith("__")
            and _bool(d.getVarFlag(key, "export")) and not _bool(d.getVarFlag(key, "unexport")))


def _bool(value):
    import bb
    return bool(bb.utils.to_boolean(value)) if isinstance(value, str) else bool(value)
