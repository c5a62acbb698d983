//! The python modules embedded in the program (the `bb` package BitBake's metadata
//! imports, and the host's own helpers), and importing a module by name.

use rustpython_vm::{AsObject, PyObjectRef, PyResult, VirtualMachine};

/// The embedded python modules: name, whether it is a package, source.
const EMBEDDED: &[(&str, bool, &str)] = &[
    ("bb", true, include_str!("../python/bb/__init__.py")),
    ("bb.build", false, include_str!("../python/bb/build.py")),
    (
        "bb.compress",
        true,
        include_str!("../python/bb/compress/__init__.py"),
    ),
    (
        "bb.compress.zstd",
        false,
        include_str!("../python/bb/compress/zstd.py"),
    ),
    (
        "bb.fetch2",
        true,
        include_str!("../python/bb/fetch2/__init__.py"),
    ),
    ("bb.filter", false, include_str!("../python/bb/filter.py")),
    ("bb.process", false, include_str!("../python/bb/process.py")),
    (
        "bb.runqueue",
        false,
        include_str!("../python/bb/runqueue.py"),
    ),
    ("bb.siggen", false, include_str!("../python/bb/siggen.py")),
    ("bb.data", false, include_str!("../python/bb/data.py")),
    (
        "bb.data_smart",
        false,
        include_str!("../python/bb/data_smart.py"),
    ),
    ("bb.event", false, include_str!("../python/bb/event.py")),
    (
        "bb.parse",
        true,
        include_str!("../python/bb/parse/__init__.py"),
    ),
    ("bb.utils", false, include_str!("../python/bb/utils.py")),
    ("hz_host", false, include_str!("../python/hz_host.py")),
    // Installed by the bootstrap (RustPython is built without threads).
    ("_thread", false, include_str!("../python/_thread.py")),
];

pub(crate) fn embedded_source(name: &str) -> Option<(&'static str, bool)> {
    EMBEDDED
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, pkg, src)| (*src, *pkg))
}

/// The module `name`, imported.
pub(crate) fn import_module(vm: &VirtualMachine, name: &str) -> PyResult<PyObjectRef> {
    let name = vm.ctx.new_str(name);
    vm.import(&name, 0)?;
    vm.sys_module
        .get_attr("modules", vm)?
        .get_item(name.as_object(), vm)
}
