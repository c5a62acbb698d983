"""Print, with the real BitBake library, the values tests/metadata_cli.rs compares.
Usage (in the build directory): python bitbake_values.py RECIPE.bb APPEND.bbappend"""
import os
import sys

from bitbake_cooker import base_configuration

builder = base_configuration({}, tracking=False)
recipe, append = sys.argv[1], sys.argv[2]
stores = builder.parseRecipeVariants(os.path.abspath(recipe), [os.path.abspath(append)], layername="test")
names = {"": "hello", "native": "hello-native"}
for variant, var in [("", "DESCRIPTION"), ("", "DEPENDS"), ("native", "DEPENDS"), ("native", "PN")]:
    print("%s %s=%s" % (names[variant], var, stores[variant].getVar(var)))
print("OVERRIDES=%s" % builder.data.getVar("OVERRIDES"))
