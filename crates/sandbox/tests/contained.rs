//! Every way out a task might try, each contained; limits that stop a command are
//! reported by name. Tests that need what this machine does not allow are reported
//! skipped, with the reason.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sandbox::{Config, Limits, Outcome, Stop};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sandbox-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A shell command run with `work` writable and its working directory.
fn sh(work: &Path, script: &str) -> Config {
    Config {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        cwd: work.to_owned(),
        writable: vec![work.to_owned()],
        ..Config::with_host_system()
    }
}

fn run(config: &Config) -> Outcome {
    sandbox::run(config).unwrap_or_else(|e| panic!("{e}"))
}

fn writes_land_only_in_writable_directories() {
    let work = scratch("writes");
    let outside = scratch("writes-outside");
    // Root inside has no capability left: it cannot make a read-only mount writable.
    let script = format!(
        "echo inside > ok; echo escaped > {o}/file; touch /usr/escaped; \
         mount -o remount,bind,rw /usr 2>/dev/null; touch /usr/escaped; \
         test -e /dev/tty && echo tty > tty; touch /escaped; echo $? > status",
        o = outside.display()
    );
    let outcome = run(&sh(&work, &script));
    assert!(outcome.success(), "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(work.join("ok")).unwrap(),
        "inside\n"
    );
    assert_eq!(
        std::fs::read_to_string(work.join("status")).unwrap().trim(),
        "1"
    );
    assert!(!outside.join("file").exists());
    assert!(!Path::new("/usr/escaped").exists() && !Path::new("/escaped").exists());
    assert!(
        !work.join("tty").exists(),
        "the controlling terminal is reachable"
    );
}

fn host_directories_not_given_are_not_there() {
    let work = scratch("read");
    let secret = scratch("read-secret");
    std::fs::write(secret.join("key"), "secret").unwrap();
    let script = format!("cat {}/key", secret.display());
    let outcome = run(&sh(&work, &script));
    assert_eq!(outcome.exit_code, Some(1), "{outcome:?}");
    // Given read-only, it can be read and not written.
    let mut config = sh(
        &work,
        &format!("cat {s}/key > copy; echo x > {s}/key", s = secret.display()),
    );
    config.readonly.push(secret.clone());
    let outcome = run(&config);
    // The write failed (sh exits non-zero), the read worked.
    assert_ne!(outcome.exit_code, Some(0), "{outcome:?}");
    assert_eq!(
        std::fs::read_to_string(work.join("copy")).unwrap(),
        "secret"
    );
    assert_eq!(
        std::fs::read_to_string(secret.join("key")).unwrap(),
        "secret"
    );
}

fn no_network_unless_asked() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let work = scratch("network");
    let mut config = sh(&work, &format!("echo hello > /dev/tcp/127.0.0.1/{port}"));
    config.program = "/bin/bash".into();
    let outcome = run(&config);
    assert_ne!(outcome.exit_code, Some(0), "{outcome:?}");
    assert!(listener.accept().is_err(), "a connection got through");
    config.network = true;
    let outcome = run(&config);
    assert!(outcome.success(), "{outcome:?}");
    listener.set_nonblocking(false).unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert_eq!(text, "hello\n");
}

fn a_background_process_dies_with_the_command() {
    let work = scratch("background");
    let outcome = run(&sh(
        &work,
        "(sleep 1; echo leaked > leak) & echo started > started",
    ));
    assert!(outcome.success(), "{outcome:?}");
    assert!(work.join("started").exists());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !work.join("leak").exists(),
        "the background process outlived the sandbox"
    );
}

fn processes_see_a_new_pid_namespace_and_exit_codes_come_through() {
    let work = scratch("pids-ns");
    let outcome = run(&sh(&work, "ls /proc | grep -c '^[0-9]' > count; exit 3"));
    assert_eq!(outcome.exit_code, Some(3), "{outcome:?}");
    assert_eq!(outcome.describe(), "exit code 3");
    let count: u32 = std::fs::read_to_string(work.join("count"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(count <= 4, "{count} processes visible");
}

fn a_fork_bomb_is_stopped_by_the_process_limit() {
    let work = scratch("fork-bomb");
    let mut config = sh(&work, "bomb() { bomb & bomb; wait; }; bomb");
    config.limits = Limits {
        pids: Some(64),
        ..Limits::default()
    };
    let outcome = run(&config);
    assert_eq!(outcome.stopped, Some(Stop::Pids(64)), "{outcome:?}");
    assert_eq!(outcome.describe(), "killed: process limit 64 reached");
}

fn a_memory_hog_is_killed_and_reported() {
    let work = scratch("memory");
    let mut config = sh(
        &work,
        "v=$(head -c 400000000 /dev/zero | tr '\\0' x); echo ${#v}",
    );
    config.limits = Limits {
        memory: Some(64 << 20),
        ..Limits::default()
    };
    let outcome = run(&config);
    assert_eq!(outcome.stopped, Some(Stop::Memory(64 << 20)), "{outcome:?}");
    assert_eq!(outcome.describe(), "killed: memory limit 64 MiB exceeded");
    let peak = outcome.usage.peak_memory.expect("peak memory read back");
    assert!(peak > 32 << 20 && peak <= 65 << 20, "peak {peak}");
}

fn cpu_time_is_limited_and_usage_read_back() {
    let work = scratch("cpu");
    let mut config = sh(&work, "while :; do :; done");
    config.limits = Limits {
        cpu_seconds: Some(1),
        ..Limits::default()
    };
    let outcome = run(&config);
    assert_eq!(outcome.stopped, Some(Stop::CpuTime(1)), "{outcome:?}");
    assert_eq!(outcome.describe(), "killed: CPU time limit 1 s exceeded");
    let cpu = outcome.usage.cpu.expect("CPU time read back");
    assert!(cpu >= Duration::from_millis(900), "{cpu:?}");
}

fn main() {
    sandbox::enter_if_requested();
    let probe = sandbox::probe();
    if let Err(why) = &probe.namespaces {
        test_support::skip(&format!(
            "sandbox tests: namespaces are not allowed here ({why})"
        ));
        return;
    }
    let mut tests: Vec<(&str, fn())> = vec![
        (
            "writes_land_only_in_writable_directories",
            writes_land_only_in_writable_directories,
        ),
        (
            "host_directories_not_given_are_not_there",
            host_directories_not_given_are_not_there,
        ),
        ("no_network_unless_asked", no_network_unless_asked),
        (
            "a_background_process_dies_with_the_command",
            a_background_process_dies_with_the_command,
        ),
        (
            "processes_see_a_new_pid_namespace_and_exit_codes_come_through",
            processes_see_a_new_pid_namespace_and_exit_codes_come_through,
        ),
    ];
    let cgroups = &probe.cgroups;
    for (name, test, available) in [
        (
            "a_fork_bomb_is_stopped_by_the_process_limit",
            a_fork_bomb_is_stopped_by_the_process_limit as fn(),
            cgroups.pids,
        ),
        (
            "a_memory_hog_is_killed_and_reported",
            a_memory_hog_is_killed_and_reported,
            cgroups.memory,
        ),
        (
            "cpu_time_is_limited_and_usage_read_back",
            cpu_time_is_limited_and_usage_read_back,
            true,
        ),
    ] {
        if available {
            tests.push((name, test));
        } else {
            test_support::skip(&format!("sandbox {name}: {cgroups}"));
        }
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = 0;
    let mut passed = 0;
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match std::panic::catch_unwind(test) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed > 0 {
        std::process::exit(101);
    }
}
