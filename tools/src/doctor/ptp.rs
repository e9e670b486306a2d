//! linuxptp: whether ptp4l is installed and, when it runs, the state of
//! its ports (what `pmc -u -b 0 'GET PORT_DATA_SET'` asks; takt's
//! management client tries transportSpecific 0 and 1, as `pmc -t 1` for
//! gPTP.cfg).

use super::check::Check;
use std::path::{Path, PathBuf};
use takt_stack::ptp::pmc::PortState;
use takt_stack::ptp::ptp4l::{Ptp4lClient, Ptp4lOptions};

/// ptp4l's default management socket (uds_address).
pub const PTP4L_SOCKET: &str = "/var/run/ptp4l";

/// `command -v NAME` over the directories of `path` (a PATH value).
pub fn find_in_path(path: &str, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What the running ptp4l said, or why it could not be asked.
pub enum Running {
    No,
    Ports(Vec<(u16, PortState)>),
    Error(String),
}

/// Ask the ptp4l behind `socket` (if any) for its ports' states.
pub fn ask(socket: &Path) -> Running {
    if !socket.exists() {
        return Running::No;
    }
    let opts = Ptp4lOptions {
        timeout: std::time::Duration::from_millis(500),
        ..Ptp4lOptions::default()
    };
    let result = Ptp4lClient::connect_with(socket, &opts).and_then(|mut c| c.port_data_sets());
    match result {
        Ok(ports) => Running::Ports(
            ports
                .iter()
                .map(|p| (p.port_identity.port, p.port_state))
                .collect(),
        ),
        Err(takt_stack::ptp::ptp4l::Ptp4lError::NotRunning { .. }) => Running::No,
        Err(e) => Running::Error(e.to_string()),
    }
}

pub fn ptp4l(installed: Option<&Path>, socket: &Path, running: Running) -> Check {
    const ID: &str = "ptp4l";
    const TITLE: &str = "ptp4l";
    let Some(bin) = installed else {
        return Check::info(
            ID,
            TITLE,
            "not installed (takt's own PTP port, [ptp] mode slave/master/auto, needs none)",
        )
        .with_fix("apt install linuxptp, for [ptp] mode = \"linuxptp\"");
    };
    let bin = bin.display();
    match running {
        Running::No => Check::info(
            ID,
            TITLE,
            format!("{bin}, not running (no {})", socket.display()),
        ),
        Running::Error(e) => Check::warn(
            ID,
            TITLE,
            format!("{bin}, running, but: {e}"),
            "pmc -u -b 0 'GET PORT_DATA_SET' (add -t 1 for gPTP.cfg) to see what it says",
        ),
        Running::Ports(ports) => {
            let shown: Vec<String> = ports.iter().map(|(n, s)| format!("port {n} {s}")).collect();
            let good = !ports.is_empty()
                && ports.iter().all(|(_, s)| {
                    matches!(
                        s,
                        PortState::Slave
                            | PortState::Master
                            | PortState::GrandMaster
                            | PortState::Passive
                    )
                });
            let found = format!("{bin}, running: {}", shown.join(", "));
            if good {
                Check::pass(ID, TITLE, found)
            } else {
                Check::warn(
                    ID,
                    TITLE,
                    format!("{found}: not synchronised yet"),
                    "wait, or look at ptp4l's log: a LISTENING port hears no Announce (cable, \
                     domain, transportSpecific), FAULTY means a timestamping or link fault",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;

    #[test]
    fn states_judged() {
        let bin = Path::new("/usr/sbin/ptp4l");
        let sock = Path::new(PTP4L_SOCKET);
        assert_eq!(ptp4l(None, sock, Running::No).status, Status::Info);
        assert_eq!(ptp4l(Some(bin), sock, Running::No).status, Status::Info);
        let c = ptp4l(Some(bin), sock, Running::Ports(vec![(1, PortState::Slave)]));
        assert_eq!(c.status, Status::Pass);
        assert_eq!(c.found, "/usr/sbin/ptp4l, running: port 1 SLAVE");
        let c = ptp4l(
            Some(bin),
            sock,
            Running::Ports(vec![(1, PortState::Listening)]),
        );
        assert_eq!(c.status, Status::Warn);
        assert_eq!(
            ptp4l(Some(bin), sock, Running::Error("no answer".into())).status,
            Status::Warn
        );
    }

    #[test]
    fn command_v_finds_executables_only() {
        let dir = std::env::temp_dir().join(format!("takt-doctor-path-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ptp4l"), "").unwrap();
        let path = format!("/nonexistent:{}", dir.display());
        assert_eq!(find_in_path(&path, "ptp4l"), None, "not executable");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("ptp4l"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        assert_eq!(find_in_path(&path, "ptp4l"), Some(dir.join("ptp4l")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
