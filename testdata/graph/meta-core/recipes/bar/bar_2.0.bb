RPROVIDES:${PN} = "bar-runtime"
