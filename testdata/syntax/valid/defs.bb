A = "${@f(d)}"
def f(d):
    x = 1

# column-0 comment inside the def
    return "v%d" % x
C = "after"
def g(a, \
      b):
	return a
def h():
    return "eof"
