//! Faults of one direction of a simulated link (loss, delay, jitter,
//! outages), the seeded generator that draws them, and the parser for the
//! spec string `takt loopback --link N:SPEC` takes, e.g.
//! `loss=5%,delay=50us,jitter=20us,down=2s+2s,down=6s+1s,seed=7`.

use std::fmt;

/// What the wire does to the frames of one direction. The default is a
/// perfect wire.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkFaults {
    /// Each frame is lost with this probability, in parts per million
    /// (1_000_000 or more: every frame).
    pub loss_ppm: u32,
    /// Seeds the generator behind loss and jitter: the same seed and the same
    /// frames in the same order give the same losses and delays every run.
    pub seed: u64,
    /// Extra fixed delay of every frame, on top of the propagation delay.
    pub delay_ns: u64,
    /// Extra delay drawn uniformly from 0..=jitter_ns per frame. The link
    /// stays a FIFO (like netem with a rate): a frame never overtakes an
    /// earlier one, it arrives no sooner than the one before it.
    pub jitter_ns: u64,
    /// `(start_ns, end_ns)` on the sim clock, end excluded: a frame whose
    /// departure (its launch time on the sim) falls in one is dropped.
    pub outages: Vec<(u64, u64)>,
}

impl LinkFaults {
    /// True when the wire is perfect.
    pub fn is_none(&self) -> bool {
        self.loss_ppm == 0 && self.delay_ns == 0 && self.jitter_ns == 0 && self.outages.is_empty()
    }

    /// The same faults with every outage moved by `base_ns`: the parser gives
    /// outages relative to the start of a run, the wire wants clock times.
    pub fn shifted(&self, base_ns: u64) -> LinkFaults {
        LinkFaults {
            outages: self
                .outages
                .iter()
                .map(|&(s, e)| (s.saturating_add(base_ns), e.saturating_add(base_ns)))
                .collect(),
            ..self.clone()
        }
    }

    /// Outages sorted, empty ones left out, overlapping ones merged: the
    /// transmitter walks them with a cursor as its departures go forward.
    pub(super) fn merged_outages(&self) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self
            .outages
            .iter()
            .copied()
            .filter(|(s, e)| e > s)
            .collect();
        v.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
        for (s, e) in v {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        out
    }
}

/// splitmix64: tiny, fast, and good enough to draw losses and jitter.
#[derive(Clone, Debug)]
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0), without the bias of a plain modulo.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A fault spec that could not be read; the message says what to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpecError(pub String);

impl fmt::Display for FaultSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FaultSpecError {}

const SPEC_HELP: &str = "write e.g. loss=5%,delay=50us,jitter=20us,down=2s+2s,seed=7 \
     (keys: loss=P% or ppm=N, delay=D, jitter=D, down=START+LEN (repeatable), seed=N; \
     durations take ns, us, ms or s)";

fn err(msg: String) -> FaultSpecError {
    FaultSpecError(format!("{msg}; {SPEC_HELP}"))
}

impl std::str::FromStr for LinkFaults {
    type Err = FaultSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_spec(s)
    }
}

/// Read a spec such as `loss=0.5%,delay=50us,jitter=20us,down=2s+2s,seed=7`.
/// `down=START+LEN` outages are relative to a base the caller adds with
/// [`LinkFaults::shifted`]. An empty spec is a perfect wire.
pub fn parse_spec(spec: &str) -> Result<LinkFaults, FaultSpecError> {
    let mut f = LinkFaults::default();
    let mut seen: Vec<&str> = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            return Err(err(format!("`{item}` is not KEY=VALUE")));
        };
        let (key, value) = (key.trim(), value.trim());
        if key != "down" {
            // loss and ppm set the same thing.
            let slot = if key == "ppm" { "loss" } else { key };
            if seen.contains(&slot) {
                return Err(err(format!("`{key}` given twice (or both loss and ppm)")));
            }
            seen.push(slot);
        }
        match key {
            "loss" => f.loss_ppm = parse_percent(value)?,
            "ppm" => {
                f.loss_ppm = value
                    .parse::<u32>()
                    .ok()
                    .filter(|&p| p <= 1_000_000)
                    .ok_or_else(|| {
                        err(format!("ppm=`{value}`: write a whole number 0..=1000000"))
                    })?
            }
            "delay" => f.delay_ns = parse_duration(value, "delay")?,
            "jitter" => f.jitter_ns = parse_duration(value, "jitter")?,
            "seed" => {
                f.seed = parse_u64(value).ok_or_else(|| {
                    err(format!(
                        "seed=`{value}`: write a whole number (decimal or 0x hex)"
                    ))
                })?
            }
            "down" => {
                let Some((start, len)) = value.split_once('+') else {
                    return Err(err(format!(
                        "down=`{value}`: write START+LEN, e.g. down=2s+500ms"
                    )));
                };
                let start = parse_duration(start.trim(), "down start")?;
                let len = parse_duration(len.trim(), "down length")?;
                if len == 0 {
                    return Err(err(format!(
                        "down=`{value}`: the outage length is zero; give a length above 0"
                    )));
                }
                f.outages.push((start, start.saturating_add(len)));
            }
            _ => return Err(err(format!("unknown key `{key}`"))),
        }
    }
    Ok(f)
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `DIGITS[.DIGITS]` scaled by 10^`scale_digits`, exactly, in integers; None
/// if malformed, too precise or too large.
fn parse_fixed(s: &str, scale_digits: u32) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (s.contains('.') && frac.is_empty()) {
        return None;
    }
    let frac_trim = frac.trim_end_matches('0');
    if frac_trim.len() > scale_digits as usize {
        return None;
    }
    let scale = 10u64.checked_pow(scale_digits)?;
    let mut v = int.parse::<u64>().ok()?.checked_mul(scale)?;
    if !frac_trim.is_empty() {
        let f: u64 = frac_trim.parse().ok()?;
        v = v.checked_add(f * 10u64.pow(scale_digits - frac_trim.len() as u32))?;
    }
    Some(v)
}

/// `5%`, `0.5%`, `0.0001%` (1 ppm is the finest).
fn parse_percent(v: &str) -> Result<u32, FaultSpecError> {
    let bad = || {
        err(format!(
            "loss=`{v}`: write a percentage 0%..100% with at most 4 decimals, e.g. loss=0.5%"
        ))
    };
    let num = v.strip_suffix('%').ok_or_else(bad)?;
    // 1% = 10_000 ppm: four decimal places are whole ppm.
    let ppm = parse_fixed(num.trim(), 4).ok_or_else(bad)?;
    if ppm > 1_000_000 {
        return Err(bad());
    }
    Ok(ppm as u32)
}

/// `50us`, `1.5ms`, `2s`, `700ns`: a unit is required.
pub fn parse_duration(v: &str, what: &str) -> Result<u64, FaultSpecError> {
    let bad = || {
        err(format!(
            "{what} `{v}`: write a duration with a unit (ns, us, ms, s), e.g. 50us or 1.5ms"
        ))
    };
    // "ns", "us", "ms" before "s": all end in 's'.
    let units: [(&str, u32); 4] = [("ns", 0), ("us", 3), ("ms", 6), ("s", 9)];
    for (suffix, exp) in units {
        if let Some(num) = v.strip_suffix(suffix) {
            return parse_fixed(num.trim(), exp).ok_or_else(bad);
        }
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_spec_reads_whole() {
        let f = parse_spec("loss=5%,delay=50us,jitter=20us,down=2s+2s,down=6s+1s,seed=7").unwrap();
        assert_eq!(
            f,
            LinkFaults {
                loss_ppm: 50_000,
                seed: 7,
                delay_ns: 50_000,
                jitter_ns: 20_000,
                outages: vec![
                    (2_000_000_000, 4_000_000_000),
                    (6_000_000_000, 7_000_000_000)
                ],
            }
        );
        assert_eq!("loss=5%".parse::<LinkFaults>().unwrap().loss_ppm, 50_000);
    }

    #[test]
    fn percentages_ppm_and_durations() {
        let loss = |s: &str| parse_spec(s).map(|f| f.loss_ppm);
        assert_eq!(loss("loss=0.5%"), Ok(5_000));
        assert_eq!(loss("loss=0.0001%"), Ok(1));
        assert_eq!(loss("loss=100%"), Ok(1_000_000));
        assert_eq!(loss("loss=12.50%"), Ok(125_000));
        assert_eq!(loss("ppm=250"), Ok(250));
        let d = |s: &str| parse_duration(s, "x");
        assert_eq!(d("700ns"), Ok(700));
        assert_eq!(d("1.5ms"), Ok(1_500_000));
        assert_eq!(d("0.25s"), Ok(250_000_000));
        assert_eq!(d("3us"), Ok(3_000));
        assert_eq!(parse_spec(" delay = 1ms , seed=0x10 ").unwrap().seed, 16);
        assert_eq!(parse_spec(""), Ok(LinkFaults::default()));
        assert!(parse_spec("").unwrap().is_none());
    }

    #[test]
    fn bad_specs_say_what_to_write() {
        for (spec, says) in [
            ("loss=5", "write a percentage"),
            ("loss=101%", "0%..100%"),
            ("loss=0.00001%", "at most 4 decimals"),
            ("loss=-1%", "write a percentage"),
            ("ppm=2000000", "0..=1000000"),
            ("delay=50", "with a unit"),
            ("jitter=5m", "with a unit"),
            ("delay=1.s", "with a unit"),
            ("down=2s", "START+LEN"),
            ("down=2s+0s", "length is zero"),
            ("seed=x", "whole number"),
            ("drop=5%", "unknown key `drop`"),
            ("loss", "not KEY=VALUE"),
            ("loss=1%,ppm=5", "given twice"),
            ("delay=1us,delay=2us", "given twice"),
            ("delay=99999999999999999999s", "with a unit"),
        ] {
            let e = parse_spec(spec).expect_err(spec).to_string();
            assert!(e.contains(says), "{spec}: {e}");
            assert!(
                e.contains("loss=5%,delay=50us"),
                "{spec}: shows an example: {e}"
            );
        }
    }

    #[test]
    fn shifted_makes_outages_absolute_and_merging_sorts() {
        let f = parse_spec("down=6s+1s,down=2s+2s,loss=1%").unwrap();
        let g = f.shifted(1_000);
        assert_eq!(
            g.outages,
            [
                (6_000_001_000, 7_000_001_000),
                (2_000_001_000, 4_000_001_000)
            ]
        );
        assert_eq!(g.loss_ppm, f.loss_ppm);
        let h = LinkFaults {
            outages: vec![(50, 60), (10, 20), (15, 30), (40, 40), (30, 35)],
            ..LinkFaults::default()
        };
        assert_eq!(h.merged_outages(), [(10, 35), (50, 60)]);
    }

    #[test]
    fn the_generator_is_seeded_and_below_stays_in_range() {
        let draw = |seed| {
            let mut r = Rng::new(seed);
            (0..8).map(|_| r.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let mut r = Rng::new(1);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = r.below(5);
            assert!(v < 5);
            seen[v as usize] = true;
        }
        assert_eq!(seen, [true; 5], "every value of 0..5 comes up");
    }
}
