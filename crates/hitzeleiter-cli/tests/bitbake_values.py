"""Print, with the real BitBake library, the values tests/metadata_cli.rs compares.
Usage (in the build directory): python bitbake_values.py RECIPE.bb APPEND.bbappend"""
import os
import sys
import types

hashserv = types.ModuleType("hashserv")
hashserv.client = types.ModuleType("hashserv.client")
sys.modules["hashserv"] = hashserv
sys.modules["hashserv.client"] = hashserv.client

import bb  # noqa: E402
import bb.cookerdata  # noqa: E402

config = bb.cookerdata.CookerConfiguration()
config.env = {}
builder = bb.cookerdata.CookerDataBuilder(config)
builder.parseBaseConfiguration()
recipe, append = sys.argv[1], sys.argv[2]
stores = builder.parseRecipeVariants(os.path.abspath(recipe), [os.path.abspath(append)], layername="test")
names = {"": "hello", "native": "hello-native"}
for variant, var in [("", "DESCRIPTION"), ("", "DEPENDS"), ("native", "DEPENDS"), ("native", "PN")]:
    print("%s %s=%s" % (names[variant], var, stores[variant].getVar(var)))
print("OVERRIDES=%s" % builder.data.getVar("OVERRIDES"))
