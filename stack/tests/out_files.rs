//! Output files are never written through a symbolic link someone planted
//! at the name a run is about to use: runs are often root, output is often
//! in /tmp. Each test plants a link to a "victim" file and checks that the
//! victim is unchanged and that the run still wrote its output (or said
//! clearly why not).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use takt_scheduler::config;
use takt_stack::loopback::{self, LoopbackConfig};
use takt_stack::plan::Until;
use takt_stack::progress::Progress;
use takt_stack::stats::{
    merge_interval_logs, save_histfile, HistfileColumn, HistfileOptions, IntervalLog,
    IntervalLogConfig, Metric,
};
use takt_stack::talker::TalkerOptions;

const VICTIM_TEXT: &str = "root's file: must not change\n";

/// A fresh directory with a victim file; removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("takt-out-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("victim"), VICTIM_TEXT).unwrap();
        Dir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A link at `name` pointing at the victim.
    fn plant(&self, name: &str) -> PathBuf {
        let link = self.path(name);
        std::os::unix::fs::symlink(self.path("victim"), &link).unwrap();
        link
    }

    fn victim(&self) -> String {
        std::fs::read_to_string(self.path("victim")).unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn is_link(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

#[test]
fn loopback_hist_log_skips_a_link_planted_at_its_part_file() {
    let dir = Dir::new("loopback");
    let log = dir.path("lat.hlog");
    let tx_part = dir.plant("lat.hlog.tx.part");
    let schedule = config::load_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/two-class-250us.toml"),
    )
    .unwrap()
    .schedule;
    let cfg = LoopbackConfig {
        talker: TalkerOptions {
            until: Until::Cycles(200),
            ..TalkerOptions::default()
        },
        hist_log: Some(log.clone()),
        ..LoopbackConfig::default()
    };
    let (p, q) = (Progress::default(), Progress::default());
    loopback::run(&schedule, &cfg, (&p, &q)).expect("the run writes its log elsewhere");
    assert_eq!(dir.victim(), VICTIM_TEXT, "the run wrote through the link");
    let text = std::fs::read_to_string(&log).expect("the merged log is written");
    assert!(text.contains("#[Histogram log format"), "{text}");
    assert!(text.contains("Tag=motion-control.tx_error"), "{text}");
    assert!(text.contains("Tag=motion-control.latency"), "{text}");
    // Someone else's link is left alone; the run's own parts are gone.
    assert!(is_link(&tx_part));
    let left: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".part") && n != "lat.hlog.tx.part")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn histfile_replaces_a_link_at_its_path() {
    let dir = Dir::new("histfile");
    let path = dir.plant("lat.hist");
    let mut m = Metric::new();
    m.record(1_500);
    save_histfile(
        &path,
        &[HistfileColumn::new(&m)],
        &HistfileOptions::default(),
    )
    .unwrap();
    assert_eq!(
        dir.victim(),
        VICTIM_TEXT,
        "the histfile went through the link"
    );
    assert!(!is_link(&path), "the link is replaced by the histogram");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("# Total:"), "{text}");
}

#[test]
fn merged_interval_log_replaces_a_link_at_its_path() {
    let dir = Dir::new("merge");
    let part = dir.path("a.part");
    std::fs::write(&part, "#[StartTime: 1]\n0.0,1.0,0.0,HISTFAKE\n").unwrap();
    let out = dir.plant("merged.hlog");
    merge_interval_logs(&[part], &out).unwrap();
    assert_eq!(dir.victim(), VICTIM_TEXT);
    assert!(std::fs::read_to_string(&out).unwrap().contains("HISTFAKE"));
}

#[test]
fn a_live_interval_log_refuses_a_link_with_a_clear_error() {
    let dir = Dir::new("live");
    let path = dir.plant("run.hlog");
    let cfg = IntervalLogConfig::new(SystemTime::now());
    let err = IntervalLog::create(&path, &["s.tx_error".to_owned()], 0, &cfg)
        .err()
        .expect("a link is refused");
    let msg = err.to_string();
    assert!(
        msg.contains("run.hlog") && msg.contains("symbolic link"),
        "{msg}"
    );
    assert_eq!(dir.victim(), VICTIM_TEXT);
}
