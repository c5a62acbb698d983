DEPENDS = "cycle-b"
