# The newer version is not wanted unless asked for.
DEFAULT_PREFERENCE = "-1"
