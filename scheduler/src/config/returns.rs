//! `return_of = "NAME"` in a `[[stream]]`: names to stream indices, and the
//! pairing's errors at the `return_of` value (docs/round-trip.md).

use super::build::at;
use super::raw::RawFile;
use super::Located;
use crate::Schedule;

pub(super) fn returns(raw: &RawFile, schedule: Schedule) -> Result<Schedule, Located> {
    let mut pairs = Vec::new();
    for (i, s) in raw.stream.iter().enumerate() {
        let Some(of) = &s.get_ref().return_of else {
            continue;
        };
        let Some(f) = raw
            .stream
            .iter()
            .position(|t| t.get_ref().name.get_ref() == of.get_ref())
        else {
            let names: Vec<_> = raw
                .stream
                .iter()
                .filter(|t| t.get_ref().return_of.is_none())
                .map(|t| format!("\"{}\"", crate::printable(t.get_ref().name.get_ref())))
                .collect();
            return Err(at(
                of,
                format!(
                    "no stream is named \"{}\": `return_of` names the forward stream this one carries back ({})",
                    crate::printable(of.get_ref()),
                    if names.is_empty() {
                        "there is none".to_owned()
                    } else {
                        format!("one of {}", names.join(", "))
                    }
                ),
            ));
        };
        pairs.push((i, f));
    }
    if pairs.is_empty() {
        return Ok(schedule);
    }
    schedule.with_returns(&pairs).map_err(|e| {
        let span = e
            .stream()
            .and_then(|r| raw.stream.get(r))
            .and_then(|s| s.get_ref().return_of.as_ref())
            .map_or(0..0, |v| v.span());
        Located {
            span,
            message: e.to_string(),
        }
    })
}
