python () {
    if d.getVar("MACHINE") == "testmachine":
        raise bb.parse.SkipRecipe("not for %s" % d.getVar("MACHINE"))
}
