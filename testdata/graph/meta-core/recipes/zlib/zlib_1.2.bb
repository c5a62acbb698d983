LICENSE = "Zlib"
