DEPENDS = "zlib virtual/libc tool-native hosttool-native"
RDEPENDS:${PN} = "bar-runtime (>= 1.0)"
