//! The sequence generation function (802.1CB 7.4.1): one per replicated
//! stream, numbering its frames 0, 1, ... modulo 2^16 (the R-TAG's field).

/// GenSeqNum of one stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SequenceGenerator {
    next: u16,
    /// Numbers handed out (frerCpsSeqGenResets aside, the talker's count
    /// of replicated frames).
    generated: u64,
}

impl SequenceGenerator {
    /// The number for the next frame; wraps after 65,535.
    pub fn next_number(&mut self) -> u16 {
        let n = self.next;
        self.next = self.next.wrapping_add(1);
        self.generated += 1;
        n
    }

    /// Numbers handed out so far.
    pub fn generated(&self) -> u64 {
        self.generated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_count_up_and_wrap_at_16_bits() {
        let mut g = SequenceGenerator::default();
        assert_eq!((g.next_number(), g.next_number()), (0, 1));
        for _ in 2..65_536 {
            g.next_number();
        }
        assert_eq!(g.next_number(), 0, "65,536th number wraps to 0");
        assert_eq!(g.generated(), 65_537);
    }
}
