"""Print `bitbake -e` (for RECIPE.bb with APPEND.bbappend, or the global environment
without arguments) with the real BitBake library, as its cooker's showEnvironment does.
tests/metadata_cli.rs compares `hitzeleiter env` with it. Run in the build directory."""
import io
import os
import sys

from bitbake_cooker import base_configuration, environment

import bb.parse.ast  # noqa: E402

builder = base_configuration(dict(os.environ), tracking=True)
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
sys.stdout.write(environment(envdata))
