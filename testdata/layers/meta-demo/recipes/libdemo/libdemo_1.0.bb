SUMMARY = "A small C library, built from an upstream release tarball and one patch"
LICENSE = "MIT"

SRC_URI = "https://downloads.example.org/libdemo/libdemo-${PV}.tar.gz \
           file://0001-greet-from-libdemo.patch \
           "
SRC_URI[sha256sum] = "385d832cec9963140850653e2ffeebc121b07c39e47ae805efe2f3c320f22bf0"

do_install() {
    oe_runmake install DESTDIR=${D} prefix=${prefix}
}
