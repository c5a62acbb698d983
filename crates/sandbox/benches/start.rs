//! Starting and ending `/bin/true` in the sandbox, against bubblewrap with the same
//! isolation (new user, mount, PID, network, IPC and UTS namespaces; the system
//! directories read-only; new /proc, minimal /dev, private /tmp), side by side; and the
//! sandbox with cgroup accounting, as build tasks run.

use std::path::Path;
use std::process::Command;

use criterion::Criterion;

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("sandbox");
    group.sample_size(30);
    // The same isolation as bubblewrap's; then with what a build task also gets, cgroup
    // accounting of CPU, memory and I/O.
    let config = sandbox::Config {
        accounting: false,
        ..sandbox::Config::with_host_system()
    };
    group.bench_function("hitzeleiter", |b| {
        b.iter(|| {
            let outcome = sandbox::run(&config).expect("sandbox");
            assert!(outcome.success(), "{outcome:?}");
        })
    });
    let accounted = sandbox::Config::with_host_system();
    group.bench_function("hitzeleiter_with_accounting", |b| {
        b.iter(|| {
            let outcome = sandbox::run(&accounted).expect("sandbox");
            assert!(outcome.success(), "{outcome:?}");
        })
    });
    let bwrap = ["/usr/bin/bwrap", "/bin/bwrap"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    match bwrap {
        Some(bwrap) => {
            let mut args: Vec<String> = vec!["--unshare-all".into(), "--die-with-parent".into()];
            for dir in &config.readonly {
                let dir = dir.display().to_string();
                args.extend(["--ro-bind".into(), dir.clone(), dir]);
            }
            args.extend(
                [
                    "--proc",
                    "/proc",
                    "--dev",
                    "/dev",
                    "--tmpfs",
                    "/tmp",
                    "--chdir",
                    "/",
                    "/bin/true",
                ]
                .map(String::from),
            );
            group.bench_function("bubblewrap", |b| {
                b.iter(|| {
                    let status = Command::new(bwrap).args(&args).status().expect("bwrap");
                    assert!(status.success());
                })
            });
        }
        None => eprintln!("no bwrap: only the sandbox itself is measured"),
    }
    group.finish();
}

fn main() {
    // The sandbox's stages run in processes of this program.
    sandbox::enter_if_requested();
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
