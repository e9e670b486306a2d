//! `FramesLog::push` allocates nothing, whether the ring has room or is full.

use takt_scheduler::rt::{count_allocations, CountingAllocator};
use takt_stack::frames::{
    FrameRecord, FramesHeader, FramesLog, LogEnd, RecordKind, Stage, FLAG_COUNTED,
};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn pushing_records_allocates_nothing_even_when_the_ring_is_full() {
    let dir = std::env::temp_dir().join(format!("takt-frames-noalloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f.frames");
    let header = FramesHeader {
        end: LogEnd::Talker,
        clock: "tai".into(),
        streams: vec!["a".into()],
        ..FramesHeader::default()
    };
    let mut log = FramesLog::create(&path, &header, 256).unwrap();
    let mut rec = FrameRecord::new(RecordKind::Tx, 0, 0);
    rec.flags = FLAG_COUNTED;
    // Far more than the ring holds: some pushes find it full.
    let (accepted, n) = count_allocations(|| {
        let mut accepted = 0u64;
        for i in 0..200_000u64 {
            rec.seq = i;
            rec.set(Stage::Scheduled, i);
            rec.set(Stage::HandOver, i + 5);
            accepted += u64::from(log.push(&rec));
        }
        accepted
    });
    assert_eq!((n.allocs, n.frees), (0, 0));
    let dropped = log.dropped();
    let totals = log.finish().unwrap();
    assert_eq!(totals.written, accepted);
    assert_eq!(totals.written + dropped, 200_000);
    let _ = std::fs::remove_dir_all(&dir);
}
