CLASSOVERRIDE = "class-native"
PACKAGES = ""
