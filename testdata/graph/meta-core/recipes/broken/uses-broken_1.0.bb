DEPENDS = "broken"
