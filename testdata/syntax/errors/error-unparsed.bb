A = "x" # trailing comment
B = "a"b"
  C = "indented"
  # indented comment
unset D:o
E[f]:append = "2"
addpylib ${TOPDIR}/lib mylibns
= "value"
export = "x"
this is not bitbake
F = "unclosed
G = "ok"
