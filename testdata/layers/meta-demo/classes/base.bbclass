# The demo's base class: the task chain every recipe runs, in the style of
# openembedded-core's base.bbclass, staging.bbclass and package.bbclass, much reduced.

def demo_patches(d):
    """The patch files of SRC_URI, as unpacked into WORKDIR, in SRC_URI order."""
    import os
    workdir = d.getVar('WORKDIR')
    patches = []
    for url in (d.getVar('SRC_URI') or '').split():
        path = bb.fetch2.decodeurl(url)[2]
        if path.endswith(('.patch', '.diff')):
            patches.append(os.path.join(workdir, os.path.basename(path)))
    return ' '.join(patches)

oe_runmake() {
    make ${EXTRA_OEMAKE} "$@"
}

addtask fetch
do_fetch[dirs] = "${DL_DIR}"
do_fetch[network] = "1"
do_fetch[file-checksums] = "${@bb.fetch2.get_checksum_file_list(d)}"
python base_do_fetch() {
    src_uri = (d.getVar('SRC_URI') or "").split()
    if not src_uri:
        return
    try:
        fetcher = bb.fetch2.Fetch(src_uri, d)
        fetcher.download()
    except bb.fetch2.BBFetchException as e:
        bb.fatal("Bitbake Fetcher Error: " + repr(e))
}

addtask unpack after do_fetch
do_unpack[dirs] = "${WORKDIR}"
do_unpack[cleandirs] = "${S}"
python base_do_unpack() {
    src_uri = (d.getVar('SRC_URI') or "").split()
    if not src_uri:
        return
    try:
        fetcher = bb.fetch2.Fetch(src_uri, d)
        fetcher.unpack(d.getVar('WORKDIR'))
    except bb.fetch2.BBFetchException as e:
        bb.fatal("Bitbake Fetcher Error: " + repr(e))
}

addtask patch after do_unpack
do_patch[dirs] = "${S}"
base_do_patch() {
    for patch in ${@demo_patches(d)}; do
        echo "Applying $(basename $patch)"
        patch -p1 --no-backup-if-mismatch -i $patch
    done
}

# The recipe's sysroots are assembled from the do_populate_sysroot outputs of the
# recipes in DEPENDS. Hitzeleiter does this itself ([sysroot-staging]): hardlinks, a
# manifest per contributing recipe.
addtask prepare_recipe_sysroot after do_patch
do_prepare_recipe_sysroot[deptask] = "do_populate_sysroot"
do_prepare_recipe_sysroot[sysroot-staging] = "${STAGING_DIR_HOST} ${STAGING_DIR_NATIVE}"
python do_prepare_recipe_sysroot() {
    bb.fatal("Staging recipe sysroots needs Hitzeleiter's [sysroot-staging]")
}

addtask configure after do_prepare_recipe_sysroot
do_configure[dirs] = "${B}"
base_do_configure() {
    :
}

addtask compile after do_configure
do_compile[dirs] = "${B}"
base_do_compile() {
    if [ -e Makefile -o -e makefile -o -e GNUmakefile ]; then
        oe_runmake || bbfatal "oe_runmake failed"
    fi
}

addtask install after do_compile
do_install[dirs] = "${B}"
do_install[cleandirs] = "${D}"
base_do_install() {
    :
}

SYSROOT_DIRS = "${includedir} ${libdir}"
SYSROOT_DIRS:class-native = "${bindir} ${includedir} ${libdir}"
SYSROOT_DESTDIR = "${WORKDIR}/sysroot-destdir"
addtask populate_sysroot after do_install
do_populate_sysroot[cleandirs] = "${SYSROOT_DESTDIR}"
do_populate_sysroot[outputs] = "${SYSROOT_DESTDIR}"
do_populate_sysroot() {
    for dir in ${SYSROOT_DIRS}; do
        if [ -d ${D}$dir ]; then
            mkdir -p ${SYSROOT_DESTDIR}$dir
            cp -a ${D}$dir/. ${SYSROOT_DESTDIR}$dir/
        fi
    done
}

PKGDEST = "${WORKDIR}/packages-split"
addtask package after do_install
do_package[cleandirs] = "${PKGDEST}"
do_package() {
    mkdir -p ${PKGDEST}/${PN}
    cp -a ${D}/. ${PKGDEST}/${PN}/
    rm -rf ${PKGDEST}/${PN}${includedir}
}

addtask package_write after do_package
do_package_write[dirs] = "${DEPLOY_DIR_PKG}"
do_package_write[outputs] = "${DEPLOY_DIR_PKG}/${PN}.tar.gz"
do_package_write() {
    tar -C ${PKGDEST}/${PN} --sort=name --owner=0 --group=0 --numeric-owner \
        --mtime=@0 -czf ${DEPLOY_DIR_PKG}/${PN}.tar.gz .
}
do_package_write:class-native() {
    :
}

addtask build after do_populate_sysroot do_package_write
do_build[noexec] = "1"

bbfatal() {
    echo "ERROR: $*"
    exit 1
}

EXPORT_FUNCTIONS do_fetch do_unpack do_patch do_configure do_compile do_install
