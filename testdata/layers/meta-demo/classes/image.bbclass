# Images: a root file system assembled from the packages of IMAGE_INSTALL, deployed as
# a tarball into DEPLOY_DIR_IMAGE.
IMAGE_INSTALL ?= ""
IMAGE_ROOTFS = "${WORKDIR}/rootfs"
IMAGE_NAME = "${PN}-${MACHINE}.rootfs"
PACKAGES = ""

python () {
    packages = (d.getVar('IMAGE_INSTALL') or '').split()
    d.appendVarFlag('do_rootfs', 'depends', ' ' + ' '.join('%s:do_package_write' % p for p in packages))
}

# An image builds nothing from sources.
do_fetch[noexec] = "1"
do_unpack[noexec] = "1"
do_patch[noexec] = "1"
do_configure[noexec] = "1"
do_compile[noexec] = "1"
do_install[noexec] = "1"
do_populate_sysroot[noexec] = "1"
do_package[noexec] = "1"
do_package_write[noexec] = "1"

addtask rootfs after do_prepare_recipe_sysroot
do_rootfs[cleandirs] = "${IMAGE_ROOTFS}"
do_rootfs() {
    for package in ${IMAGE_INSTALL}; do
        tar -C ${IMAGE_ROOTFS} -xzf ${DEPLOY_DIR_PKG}/$package.tar.gz
    done
}

addtask image after do_rootfs before do_build
do_image[dirs] = "${DEPLOY_DIR_IMAGE}"
do_image[outputs] = "${DEPLOY_DIR_IMAGE}/${IMAGE_NAME}.tar.gz"
do_image() {
    tar -C ${IMAGE_ROOTFS} --sort=name --owner=0 --group=0 --numeric-owner \
        --mtime=@0 -czf ${DEPLOY_DIR_IMAGE}/${IMAGE_NAME}.tar.gz .
}
