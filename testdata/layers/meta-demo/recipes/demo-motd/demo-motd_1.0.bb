SUMMARY = "A message of the day, written by a python task"
LICENSE = "MIT"

MOTD_TEXT ?= "Welcome to ${MACHINE}, built from ${PN} ${PV}."

python do_compile() {
    import os
    path = os.path.join(d.getVar('B'), 'motd')
    with open(path, 'w') as motd:
        motd.write(d.getVar('MOTD_TEXT') + '\n')
    bb.note("wrote %s" % path)
}

do_install() {
    install -D -m 0644 motd ${D}${sysconfdir}/motd
}
