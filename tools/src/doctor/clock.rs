//! Time: the kernel's clocksource (what every clock_gettime and timer
//! reads) and the TAI offset (schedules run on CLOCK_TAI by default).

use super::check::Check;
use super::host::Host;

pub fn clocksource(host: &Host) -> Check {
    const ID: &str = "clocksource";
    const TITLE: &str = "Clocksource";
    let base = "/sys/devices/system/clocksource/clocksource0";
    let Some(current) = host.read(&format!("{base}/current_clocksource")) else {
        return Check::info(ID, TITLE, "unknown (no current_clocksource in sysfs)");
    };
    if current == "tsc" {
        return Check::pass(ID, TITLE, "tsc");
    }
    let available = host
        .read(&format!("{base}/available_clocksource"))
        .unwrap_or_default();
    let constant_tsc = host
        .read("/proc/cpuinfo")
        .is_some_and(|c| c.split_whitespace().any(|w| w == "constant_tsc"));
    let found = format!(
        "{current} (available: {}): reading the time costs more and is coarser than the TSC",
        if available.is_empty() {
            "?"
        } else {
            &available
        }
    );
    if constant_tsc {
        Check::warn(
            ID,
            TITLE,
            found,
            "kernel command line: clocksource=tsc tsc=reliable (this CPU has a constant TSC); \
             for now: echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
    } else {
        Check::warn(
            ID,
            TITLE,
            format!("{found}; the CPU has no constant_tsc flag"),
            "none safe here: the TSC is not constant on this CPU (or not shown to this VM)",
        )
    }
}

/// TAI - UTC since 1 January 2017.
pub const TAI_UTC_OFFSET_S: i64 = 37;

/// CLOCK_TAI - CLOCK_REALTIME in whole seconds, as the kernel has it now.
pub fn tai_offset_now() -> Option<i64> {
    use nix::time::{clock_gettime, ClockId};
    let rt = clock_gettime(ClockId::CLOCK_REALTIME).ok()?;
    let tai = clock_gettime(ClockId::CLOCK_TAI).ok()?;
    let ns = (i128::from(tai.tv_sec()) - i128::from(rt.tv_sec())) * 1_000_000_000
        + i128::from(tai.tv_nsec())
        - i128::from(rt.tv_nsec());
    i64::try_from((ns + 500_000_000).div_euclid(1_000_000_000)).ok()
}

pub fn tai_offset(offset_s: Option<i64>) -> Check {
    const ID: &str = "tai-offset";
    const TITLE: &str = "Kernel TAI offset";
    const FIX: &str =
        "let the time daemon set it: ptp4l with phc2sys -w (takes the offset from the \
                       grandmaster), or chrony with `leapsectz right/UTC` in chrony.conf; or once, \
                       an adjtimex(2) call with ADJ_TAI and constant 37";
    match offset_s {
        None => Check::info(ID, TITLE, "unknown (CLOCK_TAI unreadable)"),
        Some(TAI_UTC_OFFSET_S) => Check::pass(ID, TITLE, "37 s (CLOCK_TAI - CLOCK_REALTIME)"),
        Some(0) => Check::warn(
            ID,
            TITLE,
            "0 s: nobody set it, so CLOCK_TAI reads UTC and base times on the tai clock \
             are 37 s off TAI (and off other TAI-clocked devices)",
            FIX,
        ),
        Some(o) => Check::warn(
            ID,
            TITLE,
            format!("{o} s: TAI - UTC is {TAI_UTC_OFFSET_S} s since 2017"),
            FIX,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;
    use crate::doctor::host::fake::FakeHost;

    #[test]
    fn tsc_passes_others_warn_with_the_kernel_parameter_when_constant() {
        let cs = "sys/devices/system/clocksource/clocksource0";
        let f = FakeHost::new(&[(&format!("{cs}/current_clocksource"), "tsc\n")]);
        assert_eq!(clocksource(&f.host).status, Status::Pass);
        f.write(&format!("{cs}/current_clocksource"), "kvm-clock\n");
        f.write(
            &format!("{cs}/available_clocksource"),
            "kvm-clock tsc hpet\n",
        );
        f.write(
            "proc/cpuinfo",
            "flags\t: fpu tsc constant_tsc nonstop_tsc\n",
        );
        let c = clocksource(&f.host);
        assert_eq!(c.status, Status::Warn);
        assert!(c.found.contains("kvm-clock tsc hpet"));
        assert!(c
            .fix
            .unwrap()
            .starts_with("kernel command line: clocksource=tsc tsc=reliable"));
        f.write("proc/cpuinfo", "flags\t: fpu tsc\n");
        assert!(!clocksource(&f.host)
            .fix
            .unwrap()
            .contains("clocksource=tsc"));
    }

    #[test]
    fn tai_offset_37_passes_0_warns() {
        assert_eq!(tai_offset(Some(37)).status, Status::Pass);
        let c = tai_offset(Some(0));
        assert_eq!(c.status, Status::Warn);
        assert!(c.fix.unwrap().contains("phc2sys -w"));
        assert_eq!(tai_offset(Some(36)).status, Status::Warn);
        assert_eq!(tai_offset(None).status, Status::Info);
        // The real clocks answer, whatever the offset is.
        assert!(tai_offset_now().is_some());
    }
}
