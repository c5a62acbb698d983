# The higher-priority layer wins over the higher versions in meta-core.
LICENSE = "Zlib"
