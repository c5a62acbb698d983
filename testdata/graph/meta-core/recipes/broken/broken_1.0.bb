DEPENDS = "missing-thing"
