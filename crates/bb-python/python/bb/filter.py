"""Variable filters (`d.setVarFilter(VAR, EXPR)`): when VAR is read expanded, EXPR is
evaluated with `val` bound to the value, and its result is the value. Only the functions
registered with `filter_proc` (and a few pure builtins) are visible to an expression, so
the host caches results by (expression, value)."""

FILTERS = {"__builtins__": {}}
# Compiled once per expression: a recipe's filter sees many values.
_code = {}


class Namespace:
    """A dotted prefix of registered names (`oe.foo` registers `oe` as a Namespace)."""

    def __getitem__(self, name):
        return self.__dict__[name]

    def __setitem__(self, name, value):
        self.__dict__[name] = value

    def __contains__(self, name):
        return name in self.__dict__

    def __setattr__(self, name, value):
        raise AttributeError("Attribute %r cannot be changed" % name)

    def __delattr__(self, name):
        raise AttributeError("Attribute %r cannot be deleted" % name)


def filter_proc(*, name=None):
    """Registers a pure function for filter expressions, under `name` (which may be
    dotted) or its own name."""

    def register(func):
        parts = (name or func.__name__).split(".")
        scope = FILTERS
        for part in parts[:-1]:
            if part not in scope:
                scope[part] = Namespace()
            scope = scope[part]
        scope[parts[-1]] = func
        return func

    return register


def apply_filters(val, expressions):
    for expression in expressions:
        expression = expression.strip()
        if not expression:
            continue
        code = _code.get(expression)
        if code is None:
            code = _code[expression] = compile(expression, "<string>", "eval")
        val = eval(code, dict(FILTERS), {"val": val})
    return val


for _builtin in (all, any, bin, bool, chr, enumerate, float, format, hex, int, len, map, max,
                 min, oct, ord, pow, str, sum):
    filter_proc()(_builtin)


@filter_proc()
def suffix(val, suffix):
    return " ".join(word + suffix for word in val.split())


@filter_proc()
def prefix(val, prefix):
    return " ".join(prefix + word for word in val.split())


@filter_proc()
def sort(val):
    return " ".join(sorted(val.split()))


@filter_proc()
def remove(val, remove, sep=None):
    if isinstance(remove, str):
        remove = remove.split(sep)
    kept = [item for item in val.split(sep) if item not in remove]
    return (sep or " ").join(kept)
