//! Human units in schedule files: durations ("250us", "1.5ms") and link
//! speeds ("100Mbps", "1Gbps"). Exact decimal arithmetic, no floats, so
//! "1.5ms" is exactly 1_500_000 ns.

const DURATION_UNITS: [(&str, u64); 6] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("", 1),
];

const SPEED_UNITS: [(&str, u64); 8] = [
    ("gbps", 1_000_000_000),
    ("gbit", 1_000_000_000),
    ("mbps", 1_000_000),
    ("mbit", 1_000_000),
    ("kbps", 1_000),
    ("kbit", 1_000),
    ("bps", 1),
    ("bit", 1),
];

/// Parse "250us", "1.5ms", "2s", "100ns" or a bare integer (ns).
pub fn parse_duration_ns(text: &str) -> Result<u64, String> {
    let t = text.trim();
    // "s" must not match the tail of "ns"/"us"/"ms": try longer units first.
    let (number, scale) = DURATION_UNITS
        .iter()
        .find_map(|&(unit, scale)| t.strip_suffix(unit).map(|n| (n, scale)))
        .unwrap_or((t, 1));
    scaled(number.trim(), scale).ok_or_else(|| {
        format!(
            "\"{text}\" is not a duration: write an integer number of ns or a number with a unit (ns, us, ms, s), e.g. \"250us\" or \"1.5ms\""
        )
    })
}

/// Parse a duration with an optional sign: everything [`parse_duration_ns`]
/// accepts, plus a leading `-` or `+` ("-3ms", "+5ms", "-250us", "0").
/// The result must fit an i64 (about ±292 years).
pub fn parse_signed_duration_ns(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (negative, magnitude) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let not_signed = || {
        format!(
            "\"{text}\" is not a signed duration: write an optional + or - and an integer number of ns or a number with a unit (ns, us, ms, s), e.g. \"+5ms\" or \"-250us\""
        )
    };
    // A second sign, or a sign and nothing else, is malformed.
    if magnitude.trim_start().starts_with(['-', '+']) {
        return Err(not_signed());
    }
    let ns = parse_duration_ns(magnitude).map_err(|_| not_signed())?;
    let signed = if negative {
        0i64.checked_sub_unsigned(ns)
    } else {
        i64::try_from(ns).ok()
    };
    signed.ok_or_else(|| {
        format!(
            "\"{text}\" is out of range: a signed duration is at most {} ns (about 292 years) either way",
            i64::MAX
        )
    })
}

/// Parse "100Mbps", "1Gbps", "2.5Gbps", "10Mbit" into bits per second.
pub fn parse_speed_bps(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    SPEED_UNITS
        .iter()
        .find_map(|&(unit, scale)| {
            lower
                .strip_suffix(unit)
                .map(|n| scaled(n.trim(), scale))
        })
        .flatten()
        .filter(|&bps| bps > 0)
        .ok_or_else(|| {
            format!(
                "\"{text}\" is not a link speed: write a positive number with a unit (bps, kbps, Mbps, Gbps), e.g. \"1Gbps\""
            )
        })
}

/// `number` (decimal, optional fraction) times `scale`, exactly; `None` if
/// malformed, negative, overflowing, or with more fraction than `scale` holds.
fn scaled(number: &str, scale: u64) -> Option<u64> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || number.ends_with('.') {
        return None;
    }
    let mut value = int.parse::<u64>().ok()?.checked_mul(scale)?;
    let mut place = scale;
    for digit in frac.bytes() {
        if !place.is_multiple_of(10) {
            return None; // finer than 1 ns (or 1 bps)
        }
        place /= 10;
        value = value.checked_add(u64::from(digit - b'0') * place)?;
    }
    Some(value)
}

/// Render ns for people: "1.5ms", "250us", "1s", "137ns".
pub fn format_ns(ns: u64) -> String {
    for (unit, scale) in [("s", 1_000_000_000u64), ("ms", 1_000_000), ("us", 1_000)] {
        if ns >= scale {
            let whole = ns / scale;
            let frac = ns % scale;
            if frac == 0 {
                return format!("{whole}{unit}");
            }
            let digits = scale.ilog10() as usize;
            let frac = format!("{frac:0digits$}");
            return format!("{whole}.{}{unit}", frac.trim_end_matches('0'));
        }
    }
    format!("{ns}ns")
}

/// Render signed ns with its sign: "+5ms", "-250us", "0ns".
pub fn format_signed_ns(ns: i64) -> String {
    let sign = match ns.signum() {
        1 => "+",
        -1 => "-",
        _ => "",
    };
    format!("{sign}{}", format_ns(ns.unsigned_abs()))
}

/// Render bits per second: "1Gbps", "100Mbps", "2.5Gbps".
pub fn format_speed(bps: u64) -> String {
    for (unit, scale) in [
        ("Gbps", 1_000_000_000u64),
        ("Mbps", 1_000_000),
        ("kbps", 1_000),
    ] {
        if bps >= scale {
            let (whole, frac) = (bps / scale, bps % scale);
            if frac == 0 {
                return format!("{whole}{unit}");
            }
            let digits = scale.ilog10() as usize;
            let frac = format!("{frac:0digits$}");
            return format!("{whole}.{}{unit}", frac.trim_end_matches('0'));
        }
    }
    format!("{bps}bps")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("250us"), Ok(250_000));
        assert_eq!(parse_duration_ns("1.5ms"), Ok(1_500_000));
        assert_eq!(parse_duration_ns("2s"), Ok(2_000_000_000));
        assert_eq!(parse_duration_ns("0.000000001s"), Ok(1));
        assert_eq!(parse_duration_ns("100ns"), Ok(100));
        assert_eq!(parse_duration_ns("100 us"), Ok(100_000));
        assert_eq!(parse_duration_ns("42"), Ok(42));
        assert_eq!(parse_duration_ns("3µs"), Ok(3_000));
        for bad in [
            "",
            "ms",
            "-1ms",
            "1.ms",
            "1.5",
            "0.5ns",
            "1h",
            "1e3us",
            "18446744073709551616",
        ] {
            assert!(parse_duration_ns(bad).is_err(), "{bad:?} accepted");
        }
        assert!(
            parse_duration_ns("20000000000s").is_err(),
            "overflow accepted"
        );
    }

    #[test]
    fn signed_durations() {
        assert_eq!(parse_signed_duration_ns("-3ms"), Ok(-3_000_000));
        assert_eq!(parse_signed_duration_ns("+5ms"), Ok(5_000_000));
        assert_eq!(parse_signed_duration_ns("5ms"), Ok(5_000_000));
        assert_eq!(parse_signed_duration_ns("-250us"), Ok(-250_000));
        assert_eq!(parse_signed_duration_ns("0"), Ok(0));
        assert_eq!(parse_signed_duration_ns("-0"), Ok(0));
        assert_eq!(parse_signed_duration_ns(" -1.5ms "), Ok(-1_500_000));
        assert_eq!(parse_signed_duration_ns("- 2us"), Ok(-2_000));
        assert_eq!(
            parse_signed_duration_ns("9223372036854775807"),
            Ok(i64::MAX)
        );
        assert_eq!(
            parse_signed_duration_ns("-9223372036854775808"),
            Ok(i64::MIN)
        );
        for bad in ["", "-", "+", "--3ms", "+-3ms", "-+3ms", "3-ms", "-1h", "ms"] {
            let e = parse_signed_duration_ns(bad).unwrap_err();
            assert!(e.contains("is not a signed duration"), "{bad:?}: {e}");
        }
        for big in [
            "9223372036854775808",
            "-9223372036854775809",
            "+10000000000s",
        ] {
            let e = parse_signed_duration_ns(big).unwrap_err();
            assert!(e.contains("is out of range"), "{big:?}: {e}");
        }
    }

    #[test]
    fn signed_formatting_round_trips() {
        for ns in [
            0,
            1,
            -1,
            5_000_000,
            -3_000_000,
            -250_000,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(
                parse_signed_duration_ns(&format_signed_ns(ns)),
                Ok(ns),
                "{}",
                format_signed_ns(ns)
            );
        }
        assert_eq!(format_signed_ns(5_000_000), "+5ms");
        assert_eq!(format_signed_ns(-250_000), "-250us");
        assert_eq!(format_signed_ns(0), "0ns");
    }

    #[test]
    fn speeds() {
        assert_eq!(parse_speed_bps("1Gbps"), Ok(1_000_000_000));
        assert_eq!(parse_speed_bps("100Mbps"), Ok(100_000_000));
        assert_eq!(parse_speed_bps("2.5Gbps"), Ok(2_500_000_000));
        assert_eq!(parse_speed_bps("10mbit"), Ok(10_000_000));
        for bad in ["", "1G", "0Mbps", "fastbps", "-1Gbps"] {
            assert!(parse_speed_bps(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn formatting_round_trips() {
        for ns in [
            0,
            1,
            999,
            1_000,
            1_500,
            250_000,
            1_500_000,
            1_000_000_000,
            1_234_567_891,
        ] {
            assert_eq!(
                parse_duration_ns(&format_ns(ns)),
                Ok(ns),
                "{}",
                format_ns(ns)
            );
        }
        assert_eq!(format_ns(1_500_000), "1.5ms");
        assert_eq!(format_speed(2_500_000_000), "2.5Gbps");
        assert_eq!(parse_speed_bps(&format_speed(100_000_000)), Ok(100_000_000));
    }
}
