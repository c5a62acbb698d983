"""Print `bitbake -e` (for RECIPE.bb with APPEND.bbappend, or the global environment
without arguments) with the real BitBake library, as its cooker's showEnvironment does.
tests/metadata_cli.rs compares `hitzeleiter env` with it. Run in the build directory."""
import io
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
import bb.parse.ast  # noqa: E402

config = bb.cookerdata.CookerConfiguration()
config.env = dict(os.environ)
config.tracking = True
builder = bb.cookerdata.CookerDataBuilder(config)
builder.parseBaseConfiguration()
if len(sys.argv) > 1:
    recipe, append = sys.argv[1], sys.argv[2]
    # Paths as BitBake collects them from BBFILES (not normalised).
    envdata = builder.parseRecipe(os.path.join(os.getcwd(), recipe), [os.path.join(os.getcwd(), append)], layername="test")
else:
    envdata = builder.mcdata[""]
    bb.data.expandKeys(envdata)
    bb.parse.ast.runAnonFuncs(envdata)

out = io.StringIO()
builder.data.inchistory.emit(out)
print(out.getvalue())
out = io.StringIO()
bb.data.emit_env(out, envdata, True)
print(out.getvalue())
for e in sorted(envdata.keys()):
    if envdata.getVarFlag(e, 'func', False) and envdata.getVarFlag(e, 'python', False):
        print("\npython %s () {\n%s}\n" % (e, envdata.getVar(e, False)))
