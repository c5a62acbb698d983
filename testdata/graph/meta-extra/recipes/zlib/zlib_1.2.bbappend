# Applies to meta-core's zlib 1.2, not to the preferred 1.1.
