//! The log end to end: ring -> writer thread -> file -> reader.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use super::*;

fn header(streams: usize) -> FramesHeader {
    FramesHeader {
        end: LogEnd::Talker,
        clock: "tai".into(),
        rx_stamps: "none".into(),
        tx_stamps: "kernel-software".into(),
        device: "packet:eth0".into(),
        streams: (0..streams).map(|i| format!("s{i}")).collect(),
        created_ns: 1,
        created_unix_ns: 2,
    }
}

fn record(i: u64) -> FrameRecord {
    let mut r = FrameRecord::new(RecordKind::Tx, (i % 3) as u16, i);
    r.flags = FLAG_COUNTED;
    r.set(Stage::Scheduled, 1000 * i);
    r.set(Stage::HandOver, 1000 * i + 7);
    r
}

/// A `Write` into shared memory, to read back what the writer wrote.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn read_all(bytes: &[u8]) -> (FramesHeader, Vec<FrameRecord>, Option<Ending>) {
    let mut r = FramesReader::new(bytes).unwrap();
    let mut recs = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        recs.push(rec);
    }
    (r.header().clone(), recs, r.ending())
}

#[test]
fn finish_writes_every_record_pushed_in_order_and_a_trailer() {
    let sink = Shared::default();
    // A small ring, pushed slowly enough to wrap around it many times.
    let mut log = log::start_on(Box::new(sink.clone()), &header(3), 16);
    let mut pushed = 0u64;
    for i in 0..2000u64 {
        while !log.push(&record(i)) {
            std::thread::yield_now();
        }
        pushed += 1;
    }
    let dropped = log.dropped();
    let totals = log.finish().unwrap();
    assert_eq!(totals.written, pushed);
    assert_eq!(totals.dropped, dropped);
    let bytes = sink.0.lock().unwrap().clone();
    let (h, recs, ending) = read_all(&bytes);
    assert_eq!(h, header(3));
    assert_eq!(recs, (0..2000).map(record).collect::<Vec<_>>());
    assert_eq!(
        ending,
        Some(Ending::Complete(Trailer {
            written: 2000,
            dropped,
            ..match ending {
                Some(Ending::Complete(t)) => t,
                _ => panic!("no trailer"),
            }
        }))
    );
}

#[test]
fn a_file_cut_short_yields_its_whole_records_and_the_partial_bytes() {
    let sink = Shared::default();
    let mut log = log::start_on(Box::new(sink.clone()), &header(3), 64);
    for i in 0..10 {
        assert!(log.push(&record(i)));
    }
    log.finish().unwrap();
    let bytes = sink.0.lock().unwrap().clone();
    // Cut inside record 7 (no trailer): 7 records and 30 bytes left over.
    let head = bytes.len() - 11 * RECORD_LEN;
    let cut = &bytes[..head + 7 * RECORD_LEN + 30];
    let (_, recs, ending) = read_all(cut);
    assert_eq!(recs.len(), 7);
    assert_eq!(ending, Some(Ending::Cut { partial_bytes: 30 }));
    // Cut exactly at a record boundary: no partial bytes.
    let (_, recs, ending) = read_all(&bytes[..head + 4 * RECORD_LEN]);
    assert_eq!(recs.len(), 4);
    assert_eq!(ending, Some(Ending::Cut { partial_bytes: 0 }));
    // Cut inside the header: an error, not a panic.
    assert!(FramesReader::new(&bytes[..head - 3]).is_err());
    assert!(FramesReader::new(&bytes[..5]).is_err());
}

#[test]
fn hostile_records_and_trailers_are_errors_not_panics() {
    let sink = Shared::default();
    let mut log = log::start_on(Box::new(sink.clone()), &header(3), 64);
    for i in 0..4 {
        assert!(log.push(&record(i)));
    }
    log.finish().unwrap();
    let good = sink.0.lock().unwrap().clone();
    let head = good.len() - 5 * RECORD_LEN;
    let reading = |bytes: &[u8]| -> Result<u64, ReadError> {
        let mut r = FramesReader::new(bytes)?;
        while r.next_record()?.is_some() {}
        Ok(r.records_read())
    };
    assert_eq!(reading(&good).unwrap(), 4);
    // A kind this build does not know.
    let mut b = good.clone();
    b[head + RECORD_LEN] = 77;
    assert!(matches!(
        reading(&b),
        Err(ReadError::Record { index: 1, .. })
    ));
    // A stream the header does not list.
    let mut b = good.clone();
    b[head + 2 * RECORD_LEN + 4..head + 2 * RECORD_LEN + 6]
        .copy_from_slice(&u16::MAX.to_le_bytes());
    let e = reading(&b).unwrap_err();
    assert!(
        e.to_string()
            .contains("names stream 65535; the header lists 3"),
        "{e}"
    );
    // A trailer that counts other records, and bytes after the trailer.
    let mut b = good.clone();
    let t = good.len() - RECORD_LEN;
    b[t + 8..t + 16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(reading(&b), Err(ReadError::Count { .. })));
    let mut b = good.clone();
    b.extend_from_slice(b"junk");
    assert!(matches!(reading(&b), Err(ReadError::AfterTrailer(4))));
    // Not a frames log at all.
    assert!(matches!(
        reading(b"# takt report\n...............\n"),
        Err(ReadError::Header(HeaderError::BadMagic))
    ));
    // Empty: a log whose writer never got to flush its header.
    assert!(matches!(
        reading(b""),
        Err(ReadError::Header(HeaderError::ShortFile(0)))
    ));
}

#[test]
fn a_writer_blocked_on_a_full_pipe_never_blocks_push_and_drops_are_counted() {
    let (mut rx, tx) = std::io::pipe().unwrap();
    // Nobody reads the pipe while the producer runs: the writer thread
    // blocks in write() once the pipe (64 KiB) and its own buffer are full.
    let mut log = log::start_on(Box::new(tx), &header(3), 1024);
    let n = 500_000u64;
    let mut accepted = 0u64;
    for i in 0..n {
        if log.push(&record(i)) {
            accepted += 1;
        }
    }
    // The producer got here: push never waited for the writer. The ring
    // (1024) + the writer's buffer + the pipe hold a few thousand records at
    // most, so most of the rest were dropped and counted.
    let dropped = log.dropped();
    assert_eq!(accepted + dropped, n);
    assert!(dropped > n / 2, "dropped {dropped} of {n}");
    // Now read the pipe to its end, so the writer can finish.
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        rx.read_to_end(&mut all).unwrap();
        all
    });
    let totals = log.finish().unwrap();
    let bytes = reader.join().unwrap();
    assert_eq!(totals.written + totals.dropped, n);
    assert_eq!(totals.written, accepted);
    let (_, recs, ending) = read_all(&bytes);
    assert_eq!(recs.len() as u64, totals.written);
    // Kept in order: sequence numbers only go up.
    assert!(recs.windows(2).all(|w| w[0].seq < w[1].seq));
    match ending {
        Some(Ending::Complete(t)) => assert_eq!((t.written, t.dropped), (accepted, dropped)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_pair_writes_both_producers_into_one_file() {
    let sink = Shared::default();
    let head = header(3).encode().unwrap();
    let mut logs = log::start_many_on(Box::new(sink.clone()), head, 8, 2);
    let (mut a, mut b) = (logs.remove(0), logs.remove(0));
    let t = std::thread::spawn(move || {
        for i in 0..500 {
            let mut r = record(i);
            r.kind = RecordKind::Rx;
            while !b.push(&r) {
                std::thread::yield_now();
            }
        }
        b.finish().unwrap()
    });
    for i in 0..500 {
        while !a.push(&record(i)) {
            std::thread::yield_now();
        }
    }
    let b_totals = t.join().unwrap();
    assert_eq!(b_totals.written, 500);
    let totals = a.finish().unwrap();
    assert_eq!(totals.written, 1000);
    let bytes = sink.0.lock().unwrap().clone();
    let (_, recs, _) = read_all(&bytes);
    for kind in [RecordKind::Tx, RecordKind::Rx] {
        let seqs: Vec<u64> = recs
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.seq)
            .collect();
        assert_eq!(seqs, (0..500).collect::<Vec<_>>(), "{kind:?}");
    }
}

#[test]
fn flag_names_name_every_bit() {
    let names: Vec<_> = flag_names(FLAG_COUNTED | FLAG_UNSYNCED | 0x80).collect();
    assert_eq!(names, ["counted", "unsynced", "0x80"]);
    assert_eq!(flag_names(0).count(), 0);
}

#[test]
fn finish_gives_up_on_a_writer_that_takes_nothing_and_says_so() {
    let (rx, tx) = std::io::pipe().unwrap();
    let mut log = log::start_on(Box::new(tx), &header(3), 1024);
    for i in 0..100_000 {
        log.push(&record(i));
    }
    let dropped = log.dropped();
    assert!(dropped > 0);
    // Nobody ever reads: finish must not wait for ever.
    match log.finish() {
        Err(FramesError::Stalled {
            written,
            dropped: d,
            ..
        }) => {
            // The ring's drops, and what never reached the file besides.
            assert!(d > dropped, "{d} {dropped}");
            assert_eq!(written + d, 100_000, "every record written or counted");
        }
        other => panic!("{other:?}"),
    }
    // The blocked writer gets EPIPE and ends.
    drop(rx);
}

#[test]
fn an_in_memory_log_keeps_what_was_pushed_until_full() {
    let mut log = FramesLog::default();
    assert_eq!(log.capacity(), 1024);
    for i in 0..1030 {
        log.push(&record(i));
    }
    assert_eq!(log.dropped(), 6);
    let recs = log.take_records();
    assert_eq!(recs, (0..1024).map(record).collect::<Vec<_>>());
    assert!(log.push(&record(7)));
    assert_eq!(log.take_records(), vec![record(7)]);
    let t = log.finish().unwrap();
    assert_eq!((t.written, t.dropped), (1025, 6));
}
