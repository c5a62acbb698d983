addtask fetch
addtask compile after do_fetch
addtask build after do_compile
do_build[noexec] = "1"
do_fetch() {
	echo fetching ${PN}
}
