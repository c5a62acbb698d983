SUMMARY = "A code generator run at build time, from recipe-sysroot-native"
LICENSE = "MIT"

SRC_URI = "file://demo-gen.c;subdir=${BP}"

do_compile() {
    ${CC} ${CFLAGS} ${LDFLAGS} -o demo-gen demo-gen.c
}

do_install() {
    install -D -m 0755 demo-gen ${D}${bindir}/demo-gen
}

BBCLASSEXTEND = "native"
