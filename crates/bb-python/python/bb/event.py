"""bb.event: event classes metadata handlers filter on (written for Hitzeleiter)."""


class Event(object):
    def __init__(self, d=None):
        self._message = None
        self.pid = 0
        self.data = d


def getName(e):
    if hasattr(e, "__class__"):
        return e.__class__.__name__
    return e.__name__


class ConfigParsed(Event):
    pass


class MultiConfigParsed(Event):
    def __init__(self, mcdata):
        self.mcdata = mcdata
        Event.__init__(self)


class RecipeEvent(Event):
    def __init__(self, fn):
        self.fn = fn
        Event.__init__(self)


class RecipePreDeferredInherits(RecipeEvent):
    def __init__(self, fn, inherits):
        self.inherits = inherits
        RecipeEvent.__init__(self, fn)


class RecipePreFinalise(RecipeEvent):
    pass


class RecipePostKeyExpansion(RecipeEvent):
    pass


class RecipeTaskPreProcess(RecipeEvent):
    def __init__(self, fn, tasklist):
        self.tasklist = tasklist
        RecipeEvent.__init__(self, fn)


class RecipeParsed(RecipeEvent):
    pass


class BuildBase(Event):
    def __init__(self, n, p, failures=0):
        self._name = n
        self._pkgs = p
        Event.__init__(self)
        self._failures = failures


class BuildInit(BuildBase):
    def __init__(self, p=[]):
        BuildBase.__init__(self, "", p, 0)


class BuildStarted(BuildBase):
    pass


class BuildCompleted(BuildBase):
    pass


class ParseStarted(Event):
    pass


class ParseCompleted(Event):
    pass


class MetadataEvent(Event):
    def __init__(self, eventtype, eventdata):
        Event.__init__(self)
        self.type = eventtype
        self._localdata = eventdata


class HeartbeatEvent(Event):
    pass


class ProcessStarted(Event):
    pass


class ProcessProgress(Event):
    pass


class ProcessFinished(Event):
    pass


def fire(event, d):
    """Events fired from metadata while parsing reach no UI here."""


def check_for_interrupts(d=None):
    pass
