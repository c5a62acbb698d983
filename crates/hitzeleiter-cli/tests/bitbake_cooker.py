"""What the BitBake oracle scripts of tests/ share: the real BitBake library's cooker data
set up as `bitbake` sets it up, and `bitbake -e`'s printing of a datastore."""
import io
import sys
import types

# BitBake imports hashserv's client, which the PyPI package leaves out; parsing never
# calls it.
hashserv = types.ModuleType("hashserv")
hashserv.client = types.ModuleType("hashserv.client")
sys.modules["hashserv"] = hashserv
sys.modules["hashserv.client"] = hashserv.client

import bb  # noqa: E402
import bb.cookerdata  # noqa: E402
import bb.data  # noqa: E402


def base_configuration(env, tracking):
    """The cooker's data builder with the build directory's base configuration parsed."""
    config = bb.cookerdata.CookerConfiguration()
    config.env = env
    config.tracking = tracking
    builder = bb.cookerdata.CookerDataBuilder(config)
    builder.parseBaseConfiguration()
    return builder


def environment(envdata):
    """`bitbake -e`'s text for a datastore, after the include history (cooker.showEnvironment):
    the shell environment, then the python functions, which are not valid shell."""
    out = io.StringIO()
    bb.data.emit_env(out, envdata, True)
    out.write("\n")
    for e in sorted(envdata.keys()):
        if envdata.getVarFlag(e, "func", False) and envdata.getVarFlag(e, "python", False):
            out.write("\npython %s () {\n%s}\n\n" % (e, envdata.getVar(e, False)))
    return out.getvalue()
