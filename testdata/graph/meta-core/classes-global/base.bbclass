addtask fetch
addtask configure after do_fetch
addtask compile after do_configure
addtask install after do_compile
addtask populate_sysroot after do_install
addtask package after do_install
addtask build after do_populate_sysroot do_package
do_configure[deptask] = "do_populate_sysroot"
do_build[rdeptask] = "do_package"
do_build[recrdeptask] = "do_build"
do_build[noexec] = "1"
do_fetch() {
	echo fetching ${PN}
}
