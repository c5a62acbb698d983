SUMMARY = "A greeting"
DESCRIPTION = "hello ${PV}"
DEPENDS = "zlib"
DEPENDS:append:class-native = " native-only"
do_compile() {
	${CC} hello.c -o hello
}
BBCLASSEXTEND = "native"
