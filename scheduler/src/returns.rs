//! Return streams (`return_of`, docs/round-trip.md): a stream that carries
//! another stream's frames back from a mirror (`takt-listener --mirror`).
//! The mirror copies each forward frame into its return, so both must have
//! the same frame size and the same number of frames per cycle.

use crate::schedule::Stream;

/// Why a pairing `(return, forward)` is refused. Indices are positions in
/// the schedule's streams.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReturnError {
    #[error("stream index {index} does not exist")]
    NoSuchStream { index: usize },
    #[error(
        "stream \"{name}\" cannot be the return of itself: name the forward stream it carries back"
    )]
    OfItself { ret: usize, name: String },
    #[error("stream \"{of}\" is itself a return stream: a return carries a forward stream back, not another return")]
    OfReturn { ret: usize, of: String },
    #[error(
        "stream \"{of}\" already has a return stream (\"{first}\"): one return per forward stream"
    )]
    Twice {
        ret: usize,
        of: String,
        first: String,
    },
    #[error("return stream \"{name}\" has frame_size {have}, its forward stream \"{of}\" {want}: the mirror sends the forward frame back as it came, so give both the same frame_size")]
    FrameSize {
        ret: usize,
        name: String,
        of: String,
        have: u32,
        want: u32,
    },
    #[error("return stream \"{name}\" has frames_per_cycle {have}, its forward stream \"{of}\" {want}: every forward frame needs its return slot, so give both the same frames_per_cycle")]
    FramesPerCycle {
        ret: usize,
        name: String,
        of: String,
        have: u32,
        want: u32,
    },
}

impl ReturnError {
    /// The return stream the error is about (where to point).
    pub fn stream(&self) -> Option<usize> {
        match *self {
            ReturnError::NoSuchStream { .. } => None,
            ReturnError::OfItself { ret, .. }
            | ReturnError::OfReturn { ret, .. }
            | ReturnError::Twice { ret, .. } => Some(ret),
            ReturnError::FrameSize { ret, .. } | ReturnError::FramesPerCycle { ret, .. } => {
                Some(ret)
            }
        }
    }
}

/// Check the pairs `(return, forward)` against `streams`.
pub fn check(streams: &[Stream], pairs: &[(usize, usize)]) -> Result<(), ReturnError> {
    let get = |i: usize| streams.get(i).ok_or(ReturnError::NoSuchStream { index: i });
    for (n, &(r, f)) in pairs.iter().enumerate() {
        let (rs, fs) = (get(r)?, get(f)?);
        if r == f {
            return Err(ReturnError::OfItself {
                ret: r,
                name: rs.name.clone(),
            });
        }
        if pairs.iter().any(|&(r2, _)| r2 == f) {
            return Err(ReturnError::OfReturn {
                ret: r,
                of: fs.name.clone(),
            });
        }
        if let Some(&(first, _)) = pairs[..n].iter().find(|&&(_, f2)| f2 == f) {
            return Err(ReturnError::Twice {
                ret: r,
                of: fs.name.clone(),
                first: streams[first].name.clone(),
            });
        }
        if rs.frame_size != fs.frame_size {
            return Err(ReturnError::FrameSize {
                ret: r,
                name: rs.name.clone(),
                of: fs.name.clone(),
                have: rs.frame_size,
                want: fs.frame_size,
            });
        }
        if rs.frames_per_cycle != fs.frames_per_cycle {
            return Err(ReturnError::FramesPerCycle {
                ret: r,
                name: rs.name.clone(),
                of: fs.name.clone(),
                have: rs.frames_per_cycle,
                want: fs.frames_per_cycle,
            });
        }
    }
    Ok(())
}
