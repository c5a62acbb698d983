"""bb.parse: exceptions and filename helpers metadata uses (written for Hitzeleiter)."""
import os


class ParseError(Exception):
    def __init__(self, msg, filename, lineno=0):
        self.msg = msg
        self.filename = filename
        self.lineno = lineno
        Exception.__init__(self, msg, filename, lineno)

    def __str__(self):
        if self.lineno:
            return "ParseError at %s:%d: %s" % (self.filename, self.lineno, self.msg)
        return "ParseError in %s: %s" % (self.filename, self.msg)


class SkipRecipe(Exception):
    """Raised by metadata to skip a recipe."""


# Older name still used by layers.
SkipPackage = SkipRecipe

__pkgsplit_cache__ = {}


def vars_from_file(mypkg, d):
    if not mypkg or not mypkg.endswith((".bb", ".bbappend")):
        return (None, None, None)
    if mypkg in __pkgsplit_cache__:
        return __pkgsplit_cache__[mypkg]
    myfile = os.path.splitext(os.path.basename(mypkg))
    parts = myfile[0].split("_")
    __pkgsplit_cache__[mypkg] = parts
    if len(parts) > 3:
        raise ParseError("Unable to generate default variables from filename (too many underscores)", mypkg)
    parts.extend([None] * (3 - len(parts)))
    return parts


def vardeps(*varnames):
    def inner(func):
        func.bb_vardeps = set(varnames)
        return func
    return inner


def vardepsexclude(*varnames):
    def inner(func):
        func.bb_vardepsexclude = set(varnames)
        return func
    return inner


def mark_dependency(d, f):
    deps = d.getVar("__depends", False) or []
    entry = (f, 0)
    if entry not in deps:
        deps.append(entry)
        d.setVar("__depends", deps)
