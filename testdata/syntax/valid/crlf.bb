A = "x"
B = "one \
  two"
do_x() {
	echo
}
C = "y"D = "z"
