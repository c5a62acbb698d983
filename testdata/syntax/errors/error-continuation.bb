A = "x \
# comment \
    y"
B = "fine"
# comment \
C = "not a comment"
D = "the end \
