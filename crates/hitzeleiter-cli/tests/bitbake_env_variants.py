"""Write `bitbake -e TARGET` for every target of some recipe files with the real BitBake
library, parsing the base configuration once.
Usage (in the build directory): python bitbake_env_variants.py OUTDIR LAYERNAME RECIPE.bb...
Writes OUTDIR/PN.env for each target and prints `PN parsed` or `PN skipped` per target,
`PN again` for a variant whose PN an earlier one of its file has (devupstream's)."""
import os
import sys

from bitbake_cooker import base_configuration, environment

builder = base_configuration(dict(os.environ), tracking=True)
out_dir, layername = sys.argv[1], sys.argv[2]
for recipe in sys.argv[3:]:
    seen = set()
    for envdata in builder.parseRecipeVariants(recipe, [], layername=layername).values():
        pn = envdata.getVar("PN")
        if pn in seen:
            print(pn, "again")
            continue
        seen.add(pn)
        if envdata.getVar("__SKIPPED"):
            print(pn, "skipped")
            continue
        with open(os.path.join(out_dir, pn + ".env"), "w") as f:
            f.write(environment(envdata))
        print(pn, "parsed")
