do_compile() {
    oe_runmake
 }
A = "swallowed by the body"
