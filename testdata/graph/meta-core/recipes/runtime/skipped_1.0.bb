RPROVIDES:${PN} = "skipped-runtime"
python () {
    raise bb.parse.SkipRecipe("not for this machine")
}
