do_fetch[depends] = "cycle-a:do_build"
