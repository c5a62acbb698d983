PROVIDES = "virtual/editor"
