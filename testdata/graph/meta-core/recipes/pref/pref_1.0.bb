RRECOMMENDS:${PN} = "rec-runtime"
