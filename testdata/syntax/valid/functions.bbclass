do_install() {
	echo ${PN} $HOME ${HOME}
	install -d ${D}${bindir} \
	    && true
}
python do_py() {
    bb.note("x")
}
fakeroot python do_frpy () {
    pass
}
fakeroot do_fr() {
    chown root x
}
python () {
    d.setVar("T", "1")
}
python __anonymous() {
	d.setVar("T", "tabbed")
}
do_${PN}_extra() {
}
pkg_postinst:${PN}:append() {
    echo   
}
() {
}
