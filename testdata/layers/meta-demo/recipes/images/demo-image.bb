SUMMARY = "The demo's image: demo-app and demo-motd in a root file system tarball"
LICENSE = "MIT"

IMAGE_INSTALL = "demo-app demo-motd"

inherit image
