//! `hitzeleiter build` on testdata/demo-build and its layer meta-demo: real tasks with the
//! host's tools (gcc, make, patch, tar), stamps, the action cache, failures.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The host tools the demo's tasks run, if one is missing (xtask installs them).
fn missing_host_tool() -> Option<&'static str> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["gcc", "ar", "make", "patch", "tar", "install"]
        .into_iter()
        .find(|tool| !std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// A scratch copy of testdata/layers and testdata/demo-build; returns the build directory,
/// or `None` (the test reported skipped) when a host tool the demo needs is missing.
fn scratch(name: &str) -> Option<PathBuf> {
    if let Some(tool) = missing_host_tool() {
        test_support::skip(&format!("{name}: the demo build needs '{tool}' on PATH"));
        return None;
    }
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    test_support::scratch_copy(&testdata.join("layers"), &root.join("layers"), &[]);
    test_support::scratch_copy(&testdata.join("demo-build"), &root.join("demo-build"), &[]);
    let _ = std::fs::remove_dir_all(root.join("demo-build/downloads"));
    Some(root.join("demo-build"))
}

fn hitzeleiter(build: &Path, args: &[&str]) -> (i32, String, String) {
    test_support::run_in(env!("CARGO_BIN_EXE_hitzeleiter"), build, args)
}

/// The tasks a build ran, as `RECIPE-FILE-NAME:do_task`.
fn ran(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with("NOTE: Running task "))
        .filter_map(|l| {
            let id = l.rsplit_once(" (")?.1.trim_end_matches(')');
            let (file, task) = id.rsplit_once(':')?;
            let name = Path::new(file).file_name()?.to_string_lossy().into_owned();
            let variant = if file.starts_with("virtual:native:") {
                "native:"
            } else {
                ""
            };
            Some(format!("{variant}{name}:{task}"))
        })
        .collect()
}

fn summary(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.starts_with("NOTE: Tasks Summary:"))
        .unwrap_or_else(|| panic!("no summary in:\n{stdout}"))
}

const IMAGE: &str = "tmp/deploy/images/demo/demo-image-demo.rootfs.tar.gz";

/// Runs demo-app from the deployed image.
fn run_app_from_image(build: &Path) -> String {
    let rootfs = build.join("rootfs-check");
    let _ = std::fs::remove_dir_all(&rootfs);
    std::fs::create_dir_all(&rootfs).unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(build.join(IMAGE))
        .arg("-C")
        .arg(&rootfs)
        .status()
        .unwrap();
    assert!(status.success());
    let output = Command::new(rootfs.join("usr/bin/demo-app"))
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/motd")).unwrap(),
        "Welcome to demo, built from demo-motd 1.0.\n"
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn demo_image_builds_from_nothing_and_a_second_build_reruns_nothing() {
    let Some(build) = scratch("build_from_nothing") else {
        return;
    };
    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "demo-image"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let tasks = ran(&stdout);
    let total: usize = summary(&stdout)
        .split_whitespace()
        .nth(4)
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(
        summary(&stdout),
        format!(
            "NOTE: Tasks Summary: Attempted {total} tasks of which 0 didn't need to be rerun and all succeeded."
        )
    );
    for task in [
        "libdemo_1.0.bb:do_patch",
        "native:demo-gen_1.0.bb:do_compile",
        "demo-app_1.0.bb:do_compile",
        "demo-motd_1.0.bb:do_compile",
        "demo-image.bb:do_image",
    ] {
        assert!(
            tasks.contains(&task.to_owned()),
            "{task} did not run: {tasks:?}"
        );
    }
    // The patch was applied, the generator ran from recipe-sysroot-native, the app was
    // linked against libdemo from recipe-sysroot, the python task wrote the motd.
    assert_eq!(
        run_app_from_image(&build),
        "Hello, world, from libdemo! (built by Hitzeleiter)\n"
    );

    // BitBake's logs: run and log files with symlinks, the task order.
    let temp = build.join("tmp/work/x86_64-demo-linux/libdemo/1.0/temp");
    let log = std::fs::read_link(temp.join("log.do_patch")).unwrap();
    assert!(
        log.to_string_lossy().starts_with("log.do_patch."),
        "{log:?}"
    );
    assert!(
        std::fs::read_to_string(temp.join(&log))
            .unwrap()
            .contains("Applying 0001-greet-from-libdemo.patch")
    );
    let run_file = std::fs::read_to_string(temp.join("run.do_compile")).unwrap();
    assert!(run_file.starts_with("#!/bin/sh\n"), "{run_file}");
    assert!(run_file.contains("export CC=\"gcc\"\n"), "{run_file}");
    assert!(run_file.contains("oe_runmake() {"), "{run_file}");
    let order = std::fs::read_to_string(temp.join("log.task_order")).unwrap();
    assert!(order.starts_with("do_fetch ("), "{order}");
    // The sysroot is hardlinked from libdemo's staged outputs.
    let staged =
        build.join("tmp/work/x86_64-demo-linux/libdemo/1.0/sysroot-destdir/usr/lib/libdemo.a");
    let linked =
        build.join("tmp/work/x86_64-demo-linux/demo-app/1.0/recipe-sysroot/usr/lib/libdemo.a");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(staged).unwrap().ino(),
        std::fs::metadata(linked).unwrap().ino()
    );

    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "demo-image"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(ran(&stdout), Vec::<String>::new());
    assert_eq!(
        summary(&stdout),
        format!(
            "NOTE: Tasks Summary: Attempted {total} tasks of which {total} didn't need to be rerun and all succeeded."
        )
    );
}

/// Repacks the library's upstream tarball with `from` replaced by `to` in demo.c and
/// points the recipe's checksum at it.
fn change_library_source(build: &Path, from: &str, to: &str) {
    let layer = build.join("../layers/meta-demo");
    let work = build.join("libdemo-repack");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let tarball = layer.join("mirror/libdemo-1.0.tar.gz");
    assert!(
        Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&work)
            .status()
            .unwrap()
            .success()
    );
    let source = work.join("libdemo-1.0/demo.c");
    let text = std::fs::read_to_string(&source).unwrap();
    assert!(text.contains(from));
    std::fs::write(&source, text.replace(from, to)).unwrap();
    assert!(
        Command::new("tar")
            .arg("-czf")
            .arg(&tarball)
            .arg("-C")
            .arg(&work)
            .arg("libdemo-1.0")
            .status()
            .unwrap()
            .success()
    );
    let sum = Command::new("sha256sum").arg(&tarball).output().unwrap();
    let sum = String::from_utf8(sum.stdout).unwrap();
    let sum = sum.split_whitespace().next().unwrap();
    let recipe = layer.join("recipes/libdemo/libdemo_1.0.bb");
    let text = std::fs::read_to_string(&recipe).unwrap();
    let old = text
        .lines()
        .find(|l| l.starts_with("SRC_URI[sha256sum]"))
        .unwrap()
        .to_owned();
    std::fs::write(
        &recipe,
        text.replace(&old, &format!("SRC_URI[sha256sum] = \"{sum}\"")),
    )
    .unwrap();
}

#[test]
fn a_changed_library_source_reruns_only_what_depends_on_it() {
    let Some(build) = scratch("build_library_change") else {
        return;
    };
    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "demo-image"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // A new function (the patch still applies: it changes the greeting above it).
    change_library_source(
        &build,
        "name);\n}\n",
        "name);\n}\n\nconst char *demo_name(void)\n{\n    return \"libdemo 1.0.1\";\n}\n",
    );
    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "demo-image"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let tasks = ran(&stdout);
    for task in [
        "libdemo_1.0.bb:do_fetch",
        "libdemo_1.0.bb:do_compile",
        "demo-app_1.0.bb:do_prepare_recipe_sysroot",
        "demo-app_1.0.bb:do_compile",
        "demo-image.bb:do_rootfs",
        "demo-image.bb:do_image",
    ] {
        assert!(
            tasks.contains(&task.to_owned()),
            "{task} did not run: {tasks:?}"
        );
    }
    // Neither the generator nor the motd depend on the library.
    assert!(
        !tasks
            .iter()
            .any(|t| t.contains("demo-gen") || t.contains("demo-motd")),
        "{tasks:?}"
    );
    assert_eq!(
        run_app_from_image(&build),
        "Hello, world, from libdemo! (built by Hitzeleiter)\n"
    );
}

#[test]
fn a_forced_task_reruns_and_its_dependents_only_if_its_results_change() {
    let Some(build) = scratch("build_forced") else {
        return;
    };
    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "demo-image"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "-f", "-c", "compile", "libdemo"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(ran(&stdout), ["libdemo_1.0.bb:do_compile"]);
    assert_eq!(
        summary(&stdout),
        "NOTE: Tasks Summary: Attempted 6 tasks of which 5 didn't need to be rerun and all succeeded."
    );
    // do_compile declares no outputs, so what follows runs again; the staged library is
    // the same, so nothing past libdemo does.
    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "demo-image"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let tasks = ran(&stdout);
    assert!(
        tasks.contains(&"libdemo_1.0.bb:do_install".to_owned()),
        "{tasks:?}"
    );
    assert!(tasks.iter().all(|t| t.starts_with("libdemo")), "{tasks:?}");
}

#[test]
fn outputs_come_back_from_the_cache_without_running_what_made_them() {
    let Some(build) = scratch("build_cache_restore") else {
        return;
    };
    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "demo-image"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    std::fs::remove_dir_all(build.join("tmp")).unwrap();
    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "demo-image"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // Only the image's (empty) sysroot is assembled again: everything else that is not
    // covered by the restored image is [noexec].
    assert_eq!(
        ran(&stdout),
        ["demo-image.bb:do_prepare_recipe_sysroot"],
        "{stdout}"
    );
    assert!(
        stdout.contains("NOTE: 1 tasks restored their outputs from the cache"),
        "{stdout}"
    );
    assert_eq!(
        run_app_from_image(&build),
        "Hello, world, from libdemo! (built by Hitzeleiter)\n"
    );
}

#[test]
fn a_failing_task_leaves_a_log_and_with_k_the_rest_finishes() {
    let broken = "LICENSE = \"MIT\"\ndo_compile() {\n    echo \"broken.c:3: error: expected ';'\"\n    false\n}\n";
    let Some(build) = scratch("build_failure") else {
        return;
    };
    std::fs::create_dir_all(build.join("../layers/meta-demo/recipes/broken")).unwrap();
    std::fs::write(
        build.join("../layers/meta-demo/recipes/broken/broken_1.0.bb"),
        broken,
    )
    .unwrap();
    let (code, stdout, _) = hitzeleiter(&build, &["build", "broken", "demo-motd"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("didn't need to be rerun and 1 failed."),
        "{stdout}"
    );

    let (code, stdout, _) = hitzeleiter(&build, &["build", "-k", "broken", "demo-motd"]);
    assert_eq!(code, 1, "{stdout}");
    let temp = build.join("tmp/work/x86_64-demo-linux/broken/1.0/temp");
    let log = temp.join(std::fs::read_link(temp.join("log.do_compile")).unwrap());
    let run_file = temp.join(std::fs::read_link(temp.join("run.do_compile")).unwrap());
    let recipe = build.join("../layers/meta-demo/recipes/broken/broken_1.0.bb");
    for line in [
        format!(
            "ERROR: broken-1.0-r0 do_compile: Execution of '{}' failed with exit code 1",
            run_file.display()
        ),
        format!("ERROR: Logfile of failure stored in: {}", log.display()),
        "Log data follows:\n| broken.c:3: error: expected ';'".to_owned(),
        format!(
            "ERROR: Task ({}:do_compile) failed with exit code '1'",
            recipe.display()
        ),
        format!(
            "Summary: 1 task failed:\n  {}:do_compile\n    log: {}",
            recipe.display(),
            log.display()
        ),
    ] {
        assert!(stdout.contains(&line), "missing {line:?} in:\n{stdout}");
    }
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("expected ';'")
    );
    // demo-motd does not depend on broken: with -k it was built.
    assert!(
        build
            .join("tmp/deploy/packages/x86_64/demo-motd.tar.gz")
            .exists(),
        "{stdout}"
    );
}

#[test]
fn a_dry_run_says_what_would_run_and_runs_nothing() {
    let Some(build) = scratch("build_dry_run") else {
        return;
    };
    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "-n", "demo-app"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("NOTE: Would run "), "{stdout}");
    assert!(stdout.contains("demo-app_1.0.bb:do_compile"), "{stdout}");
    assert!(!build.join("tmp/work").exists());
}

#[test]
fn two_builds_sharing_one_cache_at_once_both_succeed() {
    let Some(first) = scratch("build_shared_cache_a") else {
        return;
    };
    let Some(second) = scratch("build_shared_cache_b") else {
        return;
    };
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("build_shared_cache");
    let _ = std::fs::remove_dir_all(&cache);
    for build in [&first, &second] {
        let local = build.join("conf/local.conf");
        let text = std::fs::read_to_string(&local).unwrap();
        std::fs::write(
            &local,
            format!("{text}HZ_CACHE_DIR = \"{}\"\n", cache.display()),
        )
        .unwrap();
    }
    let spawn = |build: &Path| {
        Command::new(env!("CARGO_BIN_EXE_hitzeleiter"))
            .args(["build", "demo-image"])
            .current_dir(build)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(&first), spawn(&second));
    for child in [a, b] {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    assert_eq!(
        std::fs::read(first.join(IMAGE)).unwrap(),
        std::fs::read(second.join(IMAGE)).unwrap()
    );
    // A third build directory gets everything from the shared cache.
    std::fs::remove_dir_all(first.join("tmp")).unwrap();
    let (code, stdout, _) = hitzeleiter(&first, &["build", "demo-image"]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        ran(&stdout),
        ["demo-image.bb:do_prepare_recipe_sysroot"],
        "{stdout}"
    );
}

#[test]
fn a_build_killed_at_any_moment_is_finished_by_the_next() {
    let Some(build) = scratch("build_killed") else {
        return;
    };
    for delay_ms in [100, 250, 400, 550, 700, 850, 1000] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hitzeleiter"))
            .args(["build", "demo-image"])
            .current_dir(&build)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "demo-image"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        run_app_from_image(&build),
        "Hello, world, from libdemo! (built by Hitzeleiter)\n"
    );
}

/// Whether `hitzeleiter info` says the sandbox (and, if asked, a memory limit) works here;
/// if not, the test is reported skipped with the reason.
fn sandbox_available(test: &str, memory_limit: bool) -> bool {
    let (_, info, _) =
        test_support::run_in(env!("CARGO_BIN_EXE_hitzeleiter"), Path::new("/"), &["info"]);
    let reason = if !info.contains("namespaces: user, mount") {
        Some(
            info.lines()
                .find(|l| l.contains("namespaces"))
                .unwrap_or("no namespaces"),
        )
    } else if memory_limit && !info.contains("memory") {
        Some("no memory cgroup controller")
    } else {
        None
    };
    if let Some(reason) = reason {
        test_support::skip(&format!("{test}: {reason}"));
    }
    reason.is_none()
}

#[test]
fn a_task_writing_outside_its_directories_fails_in_the_sandbox() {
    if !sandbox_available("build_sandbox_escape", false) {
        return;
    }
    let Some(build) = scratch("build_sandbox_escape") else {
        return;
    };
    let recipe = build.join("../layers/meta-demo/recipes/escape/escape_1.0.bb");
    std::fs::create_dir_all(recipe.parent().unwrap()).unwrap();
    std::fs::write(
        &recipe,
        "LICENSE = \"MIT\"\ndo_compile() {\n    echo escaped > ${TOPDIR}/escaped\n}\n",
    )
    .unwrap();
    let (code, stdout, _) = hitzeleiter(&build, &["build", "escape"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("NOTE: Sandbox: user, mount, PID, network, IPC and UTS namespaces"),
        "{stdout}"
    );
    assert!(stdout.contains("Read-only file system"), "{stdout}");
    assert!(!build.join("escaped").exists());

    // Allowed to run unsandboxed, the same task gets out.
    let local = build.join("conf/local.conf");
    let text = std::fs::read_to_string(&local).unwrap();
    std::fs::write(&local, format!("{text}HZ_SANDBOX = \"off\"\n")).unwrap();
    let (code, stdout, _) = hitzeleiter(&build, &["build", "escape"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("NOTE: Sandbox: off"), "{stdout}");
    assert!(build.join("escaped").exists());
}

#[test]
fn a_task_over_its_memory_limit_fails_saying_so() {
    if !sandbox_available("build_memory_limit", true) {
        return;
    }
    let Some(build) = scratch("build_memory_limit") else {
        return;
    };
    let recipe = build.join("../layers/meta-demo/recipes/hog/hog_1.0.bb");
    std::fs::create_dir_all(recipe.parent().unwrap()).unwrap();
    std::fs::write(
        &recipe,
        "LICENSE = \"MIT\"\ndo_compile() {\n    v=$(head -c 400000000 /dev/zero | tr '\\0' x)\n}\n",
    )
    .unwrap();
    let local = build.join("conf/local.conf");
    let text = std::fs::read_to_string(&local).unwrap();
    std::fs::write(&local, format!("{text}HZ_SANDBOX_MEMORY = \"64M\"\n")).unwrap();
    let (code, stdout, _) = hitzeleiter(&build, &["build", "hog"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("was stopped: killed: memory limit 64 MiB exceeded"),
        "{stdout}"
    );
    assert!(stdout.contains("Summary: 1 task failed:"), "{stdout}");
}

#[test]
fn runall_runs_a_task_for_every_recipe_the_target_needs() {
    let Some(build) = scratch("build_runall") else {
        return;
    };
    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "--runall", "fetch", "demo-app"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let mut tasks = ran(&stdout);
    tasks.sort();
    assert_eq!(
        tasks,
        [
            "demo-app_1.0.bb:do_fetch",
            "libdemo_1.0.bb:do_fetch",
            "native:demo-gen_1.0.bb:do_fetch"
        ]
    );
    assert!(build.join("downloads/libdemo-1.0.tar.gz").exists());
    // Only the fetch tasks: nothing else was attempted.
    assert_eq!(
        summary(&stdout),
        "NOTE: Tasks Summary: Attempted 3 tasks of which 0 didn't need to be rerun and all succeeded."
    );
}

/// Runs git in `dir`; its output.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_git_url_is_fetched_from_a_mirror_tarball_at_its_srcrev() {
    let Some(build) = scratch("build_git") else {
        return;
    };
    if Command::new("git").arg("--version").output().is_err() {
        test_support::skip("build_git: no git on PATH");
        return;
    }
    // An upstream repository with two commits; the recipe wants the first.
    let upstream = build.join("../upstream");
    let bare = build.join("../bare");
    for dir in [&upstream, &bare] {
        let _ = std::fs::remove_dir_all(dir);
    }
    std::fs::create_dir_all(&upstream).unwrap();
    git(&upstream, &["init", "-q"]);
    std::fs::write(upstream.join("hello.txt"), "first\n").unwrap();
    git(&upstream, &["add", "hello.txt"]);
    git(&upstream, &["commit", "-q", "-m", "first"]);
    let first = git(&upstream, &["rev-parse", "HEAD"]).trim().to_owned();
    std::fs::write(upstream.join("hello.txt"), "second\n").unwrap();
    git(&upstream, &["commit", "-q", "-am", "second"]);
    // BitBake's mirror tarball of it: a bare clone, named after host and path.
    git(
        &build,
        &[
            "clone",
            "-q",
            "--bare",
            upstream.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let tarball =
        build.join("../layers/meta-demo/mirror/git2_git.example.org.demo.gittool.git.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&bare)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let recipe = build.join("../layers/meta-demo/recipes/gittool/gittool_1.0.bb");
    std::fs::create_dir_all(recipe.parent().unwrap()).unwrap();
    std::fs::write(
        &recipe,
        format!(
            "LICENSE = \"MIT\"\nSRC_URI = \"git://git.example.org/demo/gittool.git;protocol=https;branch=main\"\nSRCREV = \"{first}\"\nS = \"${{WORKDIR}}/git\"\ndo_compile() {{\n    cp hello.txt copied.txt\n}}\n"
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "-c", "compile", "gittool"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let work = build.join("tmp/work/x86_64-demo-linux/gittool/1.0/git");
    assert_eq!(
        std::fs::read_to_string(work.join("copied.txt")).unwrap(),
        "first\n"
    );
    assert!(
        build
            .join("downloads/git2/git.example.org.demo.gittool.git/HEAD")
            .exists()
    );
}

#[test]
fn local_directories_and_compressed_archives_are_unpacked() {
    let Some(build) = scratch("build_unpack") else {
        return;
    };
    let files = build.join("../layers/meta-demo/recipes/unpacks/files");
    std::fs::create_dir_all(files.join("tree/sub")).unwrap();
    std::fs::write(files.join("tree/sub/b.txt"), "in a directory\n").unwrap();
    let content = build.join("../archive-content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("from-archive.txt"), "in an archive\n").unwrap();
    let mut recipe = String::from("LICENSE = \"MIT\"\nSRC_URI = \"file://tree");
    let mut checks = String::from("    test -f ${WORKDIR}/tree/sub/b.txt\n");
    for (name, flag) in [("xz", "-J"), ("zst", "--zstd"), ("gz", "-z")] {
        let tool = match name {
            "xz" => "xz",
            "zst" => "zstd",
            _ => "gzip",
        };
        if Command::new(tool).arg("--version").output().is_err() {
            test_support::skip(&format!("build_unpack: no {tool} for .tar.{name}"));
            continue;
        }
        let archive = files.join(format!("data-{name}.tar.{name}"));
        let status = Command::new("tar")
            .arg(flag)
            .arg("-cf")
            .arg(&archive)
            .arg("-C")
            .arg(&content)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        recipe.push_str(&format!(" file://data-{name}.tar.{name};subdir={name}"));
        checks.push_str(&format!(
            "    grep -q archive ${{WORKDIR}}/{name}/from-archive.txt\n"
        ));
    }
    recipe.push_str(&format!("\"\ndo_compile() {{\n{checks}}}\n"));
    let path = build.join("../layers/meta-demo/recipes/unpacks/unpacks_1.0.bb");
    std::fs::write(&path, recipe).unwrap();
    let (code, stdout, stderr) = hitzeleiter(&build, &["build", "-c", "compile", "unpacks"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}
