inherit autotools pkgconfig ${@'systemd' if True else ''}
inherit_defer ${VIRTUAL_CLASS}
include foo.inc
require conf/${MACHINE}.conf
include_all conf/distro/include/x.inc
addtask do_deploy after do_compile before do_build
addtask configure after do_patch do_unpack # comment
addtask a after b after c before d
deltask do_fetch # gone
addhandler my_handler other_handler
EXPORT_FUNCTIONS do_configure do_compile
export PATH
unset A
unset A[doc]
export E ?= "e"
inherit = "not an assignment in a class"
