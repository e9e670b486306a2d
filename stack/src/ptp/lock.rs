//! Whether a slave is locked to its master, judged from its offsets with
//! hysteresis: locked after `n` offsets in a row within the threshold,
//! unlocked after `n` in a row beyond it.

#[derive(Clone, Debug)]
pub struct LockJudge {
    threshold_ns: u64,
    n: u32,
    locked: bool,
    /// Consecutive offsets that disagree with the current verdict.
    run: u32,
}

/// Offsets in a row that change the verdict.
pub const LOCK_RUN: u32 = 3;

impl LockJudge {
    pub fn new(threshold_ns: u64, n: u32) -> Self {
        LockJudge {
            threshold_ns,
            n: n.max(1),
            locked: false,
            run: 0,
        }
    }

    pub fn locked(&self) -> bool {
        self.locked
    }

    /// One measured offset; the new verdict.
    pub fn offset(&mut self, offset_ns: i64) -> bool {
        let within = offset_ns.unsigned_abs() <= self.threshold_ns;
        if within != self.locked {
            self.run += 1;
            if self.run >= self.n {
                self.locked = within;
                self.run = 0;
            }
        } else {
            self.run = 0;
        }
        self.locked
    }

    /// Start over (the port left SLAVE or changed master).
    pub fn reset(&mut self) {
        self.locked = false;
        self.run = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_in_a_row_lock_and_unlock() {
        let mut j = LockJudge::new(100, 3);
        let verdicts: Vec<bool> = [
            50, -90, 500, 10, 20, -100, 0, 101, -200, 50, 300, 400, -500, 5,
        ]
        .iter()
        .map(|&o| j.offset(o))
        .collect();
        assert_eq!(
            verdicts,
            [
                false, false, false, // an outlier restarts the run
                false, false, true, // three within: locked
                true, true, true, // two beyond, then one within: still locked
                true, true, true, false, // three beyond: unlocked
                false,
            ]
        );
        j.reset();
        assert!(!j.locked());
    }
}
