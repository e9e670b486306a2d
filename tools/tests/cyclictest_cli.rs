//! takt-cyclictest's own outputs, without root (no -p, no -a): the
//! interval log gets one tag per thread, the JSON file cyclictest's layout
//! plus takt's figures, and the thread lines parse. Nothing about timing is
//! asserted.

mod common;

use takt_tools::cyclictest::parse::parse;

const TAKT: &str = env!("CARGO_BIN_EXE_takt-cyclictest");

#[test]
fn interval_log_json_and_thread_lines() {
    let dir = common::TempDir::new("cyclictest-cli");
    let (log, json) = (dir.file("run.hlog"), dir.file("run.json"));
    let out = common::run(
        TAKT,
        &[
            "-i",
            "200",
            "-l",
            "300",
            "-t",
            "2",
            "-q",
            "--hist-log",
            &log,
            "--json",
            &json,
        ],
    );
    common::assert_no_panic(&out);
    let stdout = common::text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        common::text(&out.stderr)
    );

    let o = parse(&stdout).unwrap();
    assert_eq!(o.threads.len(), 2);
    assert_eq!(o.threads[0].cycles, 300);
    assert_eq!(
        (o.threads[0].interval_us, o.threads[1].interval_us),
        (200, 700)
    );
    assert_eq!(o.threads[0].priority, 0);
    assert!(stdout.starts_with("# takt-cyclictest "), "{stdout}");
    assert!(
        stdout.contains("# rt: not pinned, not SCHED_FIFO"),
        "{stdout}"
    );
    assert!(
        stdout.contains("# heap operations in the measurement loop: 0\n"),
        "{stdout}"
    );

    let log_text = std::fs::read_to_string(&log).unwrap();
    for tag in ["Tag=thread0,", "Tag=thread1,"] {
        assert!(log_text.contains(tag), "{tag} missing:\n{log_text}");
    }
    let parts: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(parts.is_empty(), "per-thread parts left behind: {parts:?}");

    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(j["num_threads"], 2);
    assert_eq!(j["thread"]["0"]["cycles"], 300);
    assert_eq!(j["takt"]["wake"], "nanosleep");
    assert_eq!(j["takt"]["heap_operations_in_measurement_loop"], 0);
    let s = &j["thread"]["0"]["takt"]["latency_ns"];
    assert_eq!(s["count"], 300);
    assert!(
        s["p50"].as_i64().unwrap() <= s["max"].as_i64().unwrap(),
        "{s}"
    );
}

#[test]
fn bad_flags_exit_2_with_what_to_change() {
    for (args, says) in [
        (&["-i", "0"][..], "-i"),
        (&["--histfile", "h.txt"][..], "--histfile needs -h US"),
        (
            &["--margin", "20"][..],
            "--margin only applies to --wake hybrid",
        ),
        (&["--wake", "sleep"][..], "use nanosleep, hybrid or spin"),
        (
            &["-a", "4096"][..],
            "CPU 4096 is not available to this process",
        ),
        (&["-D", "soon"][..], "500ms, 10s, 1m"),
    ] {
        let out = common::run(TAKT, args);
        let err = common::text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let out = common::run(TAKT, &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(common::text(&out.stdout).contains("--histogram <US>"));
}

#[test]
fn a_refused_setup_exits_1_and_says_what_is_missing() {
    if !nix::unistd::geteuid().is_root() {
        // Refused here too, unless RLIMIT_RTPRIO lets this user have it.
        let rtprio = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_RTPRIO);
        if rtprio.is_ok_and(|(soft, _)| soft == 0) {
            let out = common::run(TAKT, &["-p", "80", "-l", "10", "-q"]);
            assert_eq!(out.status.code(), Some(1), "{}", common::text(&out.stderr));
        }
        return;
    }
    // As nobody without capabilities: SCHED_FIFO is refused; without -p
    // the same run works (no cpu_dma_latency, which only root may hold).
    let nobody = |extra: &[&str]| {
        let mut args = vec![
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            TAKT,
            "-l",
            "10",
            "-q",
        ];
        args.extend_from_slice(extra);
        common::run("setpriv", &args)
    };
    let out = nobody(&["-p", "80"]);
    let err = common::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("RLIMIT_RTPRIO") || err.contains("CAP_SYS_NICE"),
        "{err}"
    );
    let out = nobody(&[]);
    let stdout = common::text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        common::text(&out.stderr)
    );
    assert!(stdout.contains("cpu_dma_latency not held"), "{stdout}");
}

/// Links planted at the per-thread `.part` name and at the --histfile path
/// (as another user could in /tmp) are not written through: the target is
/// unchanged and the run still writes its log and histogram.
#[test]
fn planted_links_at_part_and_histfile_paths_are_not_followed() {
    let dir = common::TempDir::new("cyclictest-links");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "not yours\n").unwrap();
    let (log, hist) = (dir.file("run.hlog"), dir.file("run.hist"));
    std::os::unix::fs::symlink(&victim, format!("{log}.thread0.part")).unwrap();
    std::os::unix::fs::symlink(&victim, &hist).unwrap();
    let out = common::run(
        TAKT,
        &[
            "-i",
            "200",
            "-l",
            "50",
            "-q",
            "-h",
            "100",
            "--histfile",
            &hist,
            "--hist-log",
            &log,
        ],
    );
    common::assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", common::text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "not yours\n");
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("Tag=thread0,"));
    let hist_text = std::fs::read_to_string(&hist).unwrap();
    assert!(hist_text.contains("# Total:"), "{hist_text}");
    assert!(!std::fs::symlink_metadata(&hist)
        .unwrap()
        .file_type()
        .is_symlink());
}
