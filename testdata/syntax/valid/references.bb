A = "${B} ${C_${D}} ${@d.getVar('E') or '${F}'}"
B = "${@{'a': 1}['a']} ${@ {'x': {1: 2}} }"
C = "${var:-default} $HOME ${ not a ref} ${} ${@ unclosed"
D = "${${V}} ${@'}'}"
