DEPENDS += "bar"
