DESCRIPTION:append = " (appended)"
