A = "one \
    two \
    three"
B = "x\
y"
# one \
# two
SRC_URI = "file://a.patch \   
           file://b.patch \
           "
C = "${F\
OO}"
