A = "x"
B = "a .conf drops a final backslash, a recipe does not"\
