//! Durations as YANG writes them: a rational number of seconds
//! (ieee802-types rational-grouping, uint32 numerator and denominator) and
//! a PTP time (ptp-time-grouping, uint64 seconds + uint32 nanoseconds).

const NS_PER_S: u64 = 1_000_000_000;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `ns` as seconds in lowest terms (250 us = 1/4000): the smallest numbers,
/// so the widest range fits the uint32 fields. `None` if the numerator
/// still does not fit (a duration over about 4.29 s that is not a round
/// number of seconds' fractions).
pub fn ns_to_rational(ns: u64) -> Option<(u32, u32)> {
    let g = gcd(ns, NS_PER_S).max(1);
    let num = u32::try_from(ns / g).ok()?;
    let den = u32::try_from(NS_PER_S / g).ok()?;
    Some((num, den))
}

/// numerator/denominator seconds in ns; `Err` says why not.
pub fn rational_to_ns(num: u32, den: u32) -> Result<u64, String> {
    if den == 0 {
        return Err("denominator is 0 (the module's range is 1..4294967295)".to_owned());
    }
    let scaled = u128::from(num) * u128::from(NS_PER_S);
    if scaled % u128::from(den) != 0 {
        return Err(format!(
            "{num}/{den} s is not a whole number of nanoseconds: takt's times are integer ns"
        ));
    }
    u64::try_from(scaled / u128::from(den)).map_err(|_| format!("{num}/{den} s is too long"))
}

/// ns as PTP time: (seconds, nanoseconds).
pub fn ns_to_ptp(ns: u64) -> (u64, u32) {
    (ns / NS_PER_S, (ns % NS_PER_S) as u32)
}

/// PTP time in ns; `Err` says why not.
pub fn ptp_to_ns(seconds: u64, nanoseconds: u32) -> Result<u64, String> {
    if u64::from(nanoseconds) >= NS_PER_S {
        return Err(format!(
            "nanoseconds {nanoseconds} is not less than 10^9 (carry it into seconds)"
        ));
    }
    seconds
        .checked_mul(NS_PER_S)
        .and_then(|s| s.checked_add(u64::from(nanoseconds)))
        .ok_or_else(|| {
            format!("{seconds} s is past what takt's u64 ns times hold (about 584 years)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_times_in_lowest_terms_and_back() {
        assert_eq!(ns_to_rational(250_000), Some((1, 4000)));
        assert_eq!(ns_to_rational(1_000_000_000), Some((1, 1)));
        assert_eq!(ns_to_rational(1_234_567), Some((1_234_567, 1_000_000_000)));
        assert_eq!(ns_to_rational(10_000_000_000), Some((10, 1)));
        assert_eq!(ns_to_rational(5_000_000_001), None);
        for ns in [
            1,
            7,
            250_000,
            1_234_567,
            999_999_999,
            4_000_000_000,
            3_600_000_000_000,
        ] {
            let (n, d) = ns_to_rational(ns).unwrap();
            assert_eq!(rational_to_ns(n, d), Ok(ns));
        }
    }

    #[test]
    fn fractions_of_a_nanosecond_and_zero_denominators_are_refused() {
        assert!(rational_to_ns(1, 3)
            .unwrap_err()
            .contains("whole number of nanoseconds"));
        assert!(rational_to_ns(1, 0)
            .unwrap_err()
            .contains("denominator is 0"));
        assert_eq!(rational_to_ns(2, 4), Ok(500_000_000));
    }

    #[test]
    fn ptp_times() {
        assert_eq!(ns_to_ptp(1_500_000_000), (1, 500_000_000));
        assert_eq!(ptp_to_ns(1, 500_000_000), Ok(1_500_000_000));
        assert!(ptp_to_ns(0, 1_000_000_000).is_err());
        assert!(ptp_to_ns(u64::MAX, 0).is_err());
    }
}
