RPROVIDES:${PN} = "rec-runtime"
