# Tools built for the build host and used from recipe-sysroot-native.
CLASSOVERRIDE = "class-native"
PN = "${BPN}-native"
PACKAGE_ARCH = "${BUILD_ARCH}"
PACKAGES = ""
CFLAGS = "-O2 -Wall -I${STAGING_DIR_NATIVE}${includedir}"
LDFLAGS = "-L${STAGING_DIR_NATIVE}${libdir}"


python () {
    deps = (d.getVar('DEPENDS') or '').split()
    d.setVar('DEPENDS', ' '.join(x if x.endswith('-native') else x + '-native' for x in deps))
}
