//! Opening the files a run writes (histograms, interval logs and their
//! per-thread `.part` files) without following symbolic links. Runs are
//! often root and their output is often in a shared directory such as
//! /tmp, where anyone can plant a link at a name a run is about to write
//! (`lat.hlog.tx.part`) and have root write through it into a file of its
//! choosing.
//!
//! - [`create`]: a file written while the run goes on; a link at the path
//!   is refused with a clear error before anything runs.
//! - [`create_part`]: a new file next to the output, never an existing one
//!   (`O_CREAT | O_EXCL`: links and files already there are skipped).
//! - [`replace`]: write a whole file to a new part, then rename it over the
//!   path, so a link there is replaced, not followed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Names [`create_part`] tries before giving up: a name taken by someone
/// else is skipped, so only a directory full of them stops a run.
const PART_ATTEMPTS: u32 = 64;

/// Open `path` for writing, creating or truncating it. A symbolic link
/// there is refused (`O_NOFOLLOW`), with an error that says so.
pub fn create(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(explain_link)
}

/// Create a new file `<path>.<tag>.part` (or, when that name is taken,
/// `<path>.<tag>.<pid>-<n>.part`) in the same directory as `path`: only a
/// file this call creates is ever opened. Returns its path and the file.
pub fn create_part(path: &Path, tag: &str) -> io::Result<(PathBuf, File)> {
    let mut last = None;
    for n in 0..PART_ATTEMPTS {
        let mut name = path.as_os_str().to_owned();
        if n == 0 {
            name.push(format!(".{tag}.part"));
        } else {
            name.push(format!(".{tag}.{}-{n}.part", std::process::id()));
        }
        let part = PathBuf::from(name);
        // O_EXCL never follows a link, whatever it points to.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&part)
        {
            Ok(f) => return Ok((part, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{PART_ATTEMPTS} names for its .{tag}.part file next to it are all taken ({}): remove them",
            last.map_or_else(String::new, |e| e.to_string())
        ),
    ))
}

/// Write `path` whole: `write` fills a new part file next to it, which is
/// then renamed over `path` (a link at `path` is replaced, not followed).
/// On failure the part is removed and `path` is left as it was.
pub fn replace(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let (part, mut file) = create_part(path, "new")?;
    let done = write(&mut file)
        .and_then(|()| file.flush())
        .and_then(|()| std::fs::rename(&part, path));
    if done.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    done
}

fn explain_link(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        io::Error::new(
            e.kind(),
            "it is a symbolic link, and takt does not write through links: remove the link or give another path",
        )
    } else {
        e
    }
}
