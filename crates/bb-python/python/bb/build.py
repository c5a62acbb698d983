"""bb.build: running functions and managing tasks from metadata (written for Hitzeleiter)."""
import _hz

import bb
import bb.event


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



def preceedtask(task, with_recrdeptasks, d):
    """The tasks of this recipe that `task` runs after (its [deps]), plus its
    [recrdeptask] names when asked."""
    preceed = set()
    if task not in (d.getVar("__BBTASKS", False) or []):
        return preceed
    preceed.update(d.getVarFlag(task, "deps") or [])
    if with_recrdeptasks:
        preceed.update((d.getVarFlag(task, "recrdeptask") or "").split())
    return preceed


def tasksbetween(task_start, task_end, d):
    """The tasks on dependency chains from `task_start` to `task_end`, as BitBake finds
    them (a task without `deps` on the way is a TypeError there too)."""
    native = d._tasks_between(task_start, task_end) if hasattr(d, "_tasks_between") else None
    if native is not None:
        return native
    outtasks = []
    tasks = d._keys_with_flag("task")
    # Read once: the chains visit each task's deps many times (reading is pure).
    task_deps = {task: d.getVarFlag(task, "deps", False) for task in tasks}
    _follow_chain(task_start, task_end, [], tasks, task_deps, outtasks)
    return outtasks


def _follow_chain(task, endtask, chain, tasks, task_deps, outtasks):
    # BitBake's nested `follow_chain`, at module level: a recursive closure is a reference
    # cycle, garbage that only a full collection frees, made once per recipe.
    if task in chain:
        bb.fatal("Circular task dependencies as %s depends on itself via the chain %s"
                 % (task, " -> ".join(chain)))
    chain.append(task)
    for othertask in tasks:
        if othertask == task:
            continue
        if task == endtask:
            for ctask in chain:
                if ctask not in outtasks:
                    outtasks.append(ctask)
        else:
            if task in task_deps[othertask]:
                _follow_chain(othertask, endtask, chain, tasks, task_deps, outtasks)
    chain.pop()


def listtasks(d):
    """The recipe's tasks."""
    return tuple(d.getVar("__BBTASKS", False) or ())


class TaskBase(bb.event.Event):
    """Base of the events about a task."""

    def __init__(self, t, fn, logfile, d):
        self._task = t
        self._fn = fn
        self._package = d.getVar("PF")
        self._mc = d.getVar("BB_CURRENT_MC")
        self.taskfile = d.getVar("FILE")
        self.taskname = self._task
        self.logfile = logfile
        self.time = __import__("time").time()
        self.pn = d.getVar("PN")
        self.pv = d.getVar("PV")
        bb.event.Event.__init__(self)
        self._message = "recipe %s: task %s: %s" % (d.getVar("PF"), t, self.getDisplayName())

    def getTask(self):
        return self._task

    def setTask(self, task):
        self._task = task

    def getDisplayName(self):
        return bb.event.getName(self)[4:]

    task = property(getTask, setTask, None, "task property")


class TaskStarted(TaskBase):
    """A task began."""

    def __init__(self, t, fn, logfile, taskflags, d):
        super().__init__(t, fn, logfile, d)
        self.taskflags = taskflags


class TaskSucceeded(TaskBase):
    """A task completed."""


class TaskFailed(TaskBase):
    """A task failed."""

    def __init__(self, task, fn, logfile, metadata, errprinted=False):
        self.errprinted = errprinted
        super().__init__(task, fn, logfile, metadata)


class TaskFailedSilent(TaskBase):
    """A task failed and the failure should not be reported."""


class TaskInvalid(TaskBase):
    def __init__(self, task, fn, metadata):
        super().__init__(task, fn, None, metadata)
        self._message = "No such task '%s'" % task
