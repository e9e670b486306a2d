//! The device tuning flags of the data-path binaries (`--busy-poll`,
//! `--busy-poll-budget`, `--prefer-busy-poll`, `--xdp-need-wakeup`): parsed
//! and checked against the backend before the device is opened, then
//! handed to `takt_drivers::open_tuned` (docs/backends.md says what each
//! does on `packet:` and `xdp:`).

use takt_drivers::{BusyPoll, DeviceSpec, DeviceTuning};

/// Help text shared by the binaries' after-help.
pub const DEVICE_HELP: &str = "\
Device tuning (packet: and xdp: only; an error on sim and vfio):
  --busy-poll USEC sets SO_BUSY_POLL on the device's sockets;
  --prefer-busy-poll adds SO_PREFER_BUSY_POLL and --busy-poll-budget N
  SO_BUSY_POLL_BUDGET (both need --busy-poll). On xdp: the receive path
  then drives the queue's NAPI loop itself (a non-blocking recvfrom per
  poll); on packet: the kernel has no NAPI context to poll for an AF_PACKET
  socket, so they change nothing there (docs/backends.md).
  --prefer-busy-poll and --busy-poll-budget need CAP_NET_ADMIN (root).
  --xdp-need-wakeup off binds AF_XDP without XDP_USE_NEED_WAKEUP (every
  send and fill-ring top-up then makes a system call); on is the default.
  e.g. --busy-poll 50 --prefer-busy-poll --busy-poll-budget 64";

/// `--busy-poll`, `--busy-poll-budget`, `--prefer-busy-poll`,
/// `--xdp-need-wakeup`: socket tuning of `packet:` and `xdp:` devices.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DeviceArgs {
    /// SO_BUSY_POLL: microseconds a receive may busy-poll the device queue
    /// (1-1000000; packet: and xdp: only)
    #[arg(long, value_name = "USEC", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub busy_poll: Option<u32>,
    /// With --busy-poll: SO_BUSY_POLL_BUDGET, frames one busy poll may
    /// process (1-65535; the kernel's default is 8)
    #[arg(long, value_name = "N", requires = "busy_poll",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub busy_poll_budget: Option<u16>,
    /// With --busy-poll: SO_PREFER_BUSY_POLL, keep the queue's interrupts
    /// off while the application polls
    #[arg(long, requires = "busy_poll")]
    pub prefer_busy_poll: bool,
    /// xdp: only: bind with XDP_USE_NEED_WAKEUP (on, the default) or
    /// without (off)
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    pub xdp_need_wakeup: Option<bool>,
}

fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("\"{s}\" is neither on nor off")),
    }
}

impl DeviceArgs {
    /// What the flags ask of the device.
    pub fn tuning(&self) -> DeviceTuning {
        DeviceTuning {
            busy_poll: BusyPoll {
                usec: self.busy_poll.unwrap_or(0),
                prefer: self.prefer_busy_poll,
                budget: self.busy_poll_budget.unwrap_or(0),
            },
            xdp_need_wakeup: self.xdp_need_wakeup,
        }
    }

    /// The flags that `device`'s backend has no use for, named: `Err`
    /// says which to leave out (exit 2).
    pub fn check(&self, device: &DeviceSpec) -> Result<(), String> {
        let (packet_or_xdp, xdp) = match device {
            DeviceSpec::Packet { .. } => (true, false),
            DeviceSpec::Xdp { .. } => (true, true),
            _ => (false, false),
        };
        if self.busy_poll.is_some() && !packet_or_xdp {
            return Err(format!(
                "--busy-poll is for packet: and xdp: devices, not {device}: leave --busy-poll, \
                 --busy-poll-budget and --prefer-busy-poll out"
            ));
        }
        if self.xdp_need_wakeup.is_some() && !xdp {
            return Err(format!(
                "--xdp-need-wakeup is for xdp: devices, not {device}: leave it out"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        d: DeviceArgs,
    }

    fn parse(args: &[&str]) -> Result<DeviceArgs, String> {
        let mut v = vec!["t"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v)
            .map(|c| c.d)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_flags_become_the_tuning() {
        let d = parse(&[
            "--busy-poll",
            "50",
            "--busy-poll-budget",
            "64",
            "--prefer-busy-poll",
            "--xdp-need-wakeup",
            "off",
        ])
        .unwrap();
        assert_eq!(
            d.tuning(),
            DeviceTuning {
                busy_poll: BusyPoll {
                    usec: 50,
                    prefer: true,
                    budget: 64
                },
                xdp_need_wakeup: Some(false),
            }
        );
        assert!(parse(&[]).unwrap().tuning().is_default());
    }

    #[test]
    fn bad_values_are_refused_with_the_flag() {
        for (args, says) in [
            (&["--busy-poll", "0"][..], "--busy-poll"),
            (&["--busy-poll", "-5"][..], "-5"),
            (&["--busy-poll", "2000000"][..], "--busy-poll"),
            (
                &["--busy-poll", "50", "--busy-poll-budget", "0"][..],
                "--busy-poll-budget",
            ),
            (
                &["--busy-poll", "50", "--busy-poll-budget", "70000"][..],
                "--busy-poll-budget",
            ),
            (&["--busy-poll-budget", "8"][..], "--busy-poll"),
            (&["--prefer-busy-poll"][..], "--busy-poll"),
            (&["--xdp-need-wakeup", "maybe"][..], "neither on nor off"),
        ] {
            let e = parse(args).unwrap_err();
            assert!(e.contains(says), "{args:?}: {e}");
        }
    }

    #[test]
    fn flags_a_backend_has_no_use_for_are_named() {
        let bp = parse(&["--busy-poll", "50"]).unwrap();
        let nw = parse(&["--xdp-need-wakeup", "on"]).unwrap();
        let spec = |s: &str| s.parse::<DeviceSpec>().unwrap();
        assert!(bp.check(&spec("packet:eth0")).is_ok());
        assert!(bp.check(&spec("xdp:eth0")).is_ok());
        assert!(nw.check(&spec("xdp:eth0@0")).is_ok());
        let e = bp.check(&spec("vfio:0000:00:02.0")).unwrap_err();
        assert!(e.contains("leave --busy-poll"), "{e}");
        let e = nw.check(&spec("packet:eth0")).unwrap_err();
        assert!(e.contains("--xdp-need-wakeup is for xdp:"), "{e}");
    }
}
