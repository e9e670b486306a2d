//! `takt control status|schedule ADDR[:PORT]`: the client of the control
//! plane that takt-talker and takt-listener answer on UDP (default port
//! 9700). One request per datagram, one JSON reply per request; requests
//! are re-sent when no reply comes within the timeout, as UDP may lose
//! either. Protocol and examples: docs/control-plane.md.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use takt_scheduler::units;
use takt_scheduler::ClockId;
use takt_stack::control::auth::{self, Key};

/// The port takt-talker and takt-listener answer on unless told otherwise.
pub const DEFAULT_PORT: u16 = 9700;
/// The largest request the servers read; longer ones are refused, so the
/// client refuses them first rather than send a file in vain.
pub const MAX_REQUEST_BYTES: usize = 8192;

/// The most schedule text one signed request carries: the request less its
/// `auth` line and `schedule` line.
pub const MAX_SCHEDULE_BYTES: usize =
    MAX_REQUEST_BYTES - auth::HEADER_MAX_BYTES - b"schedule\n".len();

/// A status request is padded to this many bytes: the service replies with
/// at most 3 times what it got (docs/control-plane.md, reflection), and one
/// stream's report fits in 3 x 1200 bytes.
pub const STATUS_PAD_BYTES: usize = 1200;

/// The reply came (for `schedule`: the schedule was accepted).
pub const EXIT_OK: u8 = 0;
/// No reply after every try, the reply was not understood, or output could
/// not be written.
pub const EXIT_FAILED: u8 = 1;
/// Bad input: flags, address, an unreadable or oversize file, or a
/// schedule the talker refused.
pub const EXIT_BAD_INPUT: u8 = 2;

/// Shown after `takt control status --help`.
pub const STATUS_AFTER_HELP: &str = "\
Examples:
  takt control status 10.77.0.1
      Ask the takt-talker (or takt-listener) started with --ip 10.77.0.1/24
      for its live report, on the default port 9700. Printed as pretty
      JSON: the same object as its --report json (docs/reports.md).
  takt control status 10.77.0.2:9800 --timeout 200ms --retries 5
      Another port; give up after 5 tries of 200 ms each.
  takt control status 10.77.0.1 | jq '.streams[].lost'
      One field of each stream.

Exit status:
  0  the reply was printed
  1  no reply after every try, a reply that is not JSON or says error,
     or the output could not be written
  2  bad flags or address";

/// Shown after `takt control schedule --help`.
pub const SCHEDULE_AFTER_HELP: &str = "\
Examples:
  takt control schedule 10.77.0.1 docs/examples/admin-oper-switch.toml --key-file ctl.key
      Send a new schedule (the whole file, at most 8092 bytes), signed
      with the talker's key, to the takt-talker at 10.77.0.1:9700. On success it prints
        accepted: switches at 2000000000000 (TAI ns; requested 2000000000000)
      A refused schedule is reported against the file, as `takt check` does:
        admin-oper-switch.toml:36:13: error: ...
  takt control schedule 10.77.0.1 new.toml --key-file ctl.key --base-time-in 2s
      Set [schedule] base_time to now + 2 s (on the schedule's clock,
      TAI unless it says otherwise) before sending; the file itself is
      not changed.
  takt control schedule 10.77.0.1 new.toml --key-file ctl.key --json
      Print the talker's reply as it came, e.g.
        {\"accepted\":true,\"switch_at_ns\":...,\"requested_base_ns\":...}

Run `takt check FILE` first: it finds the same errors without a talker.
If a reply is lost the request is sent again, so the talker may get the
schedule twice; the second copy replaces the first with the same one.

Exit status:
  0  the talker accepted the schedule
  1  no reply after every try, a reply that is not understood, or the
     output could not be written
  2  bad flags or address, no --key-file or a key file that is not private,
     FILE unreadable or over 8092 bytes, or the talker refused the
     schedule (the reason on stderr)

The talker answers only signed requests (HMAC-SHA256 with the key, and a
counter from this host's clock, which must be within 30 s of the
talker's); an unsigned, wrongly signed or replayed request gets no reply.";

/// `takt control`'s own subcommands.
#[derive(clap::Args, Clone, Debug)]
pub struct ControlArgs {
    #[command(subcommand)]
    pub command: ControlCommand,
}

#[derive(clap::Subcommand, Clone, Debug)]
pub enum ControlCommand {
    /// Print the live report of a running takt-talker or takt-listener
    ///
    /// The same JSON object as its --report json, at the time of asking.
    #[command(after_help = STATUS_AFTER_HELP)]
    Status(StatusArgs),
    /// Send a new schedule to a running takt-talker
    ///
    /// The talker checks it as `takt check` would and, when valid, switches
    /// to it at its base_time (or the next cycle boundary after it).
    #[command(after_help = SCHEDULE_AFTER_HELP)]
    Schedule(ScheduleArgs),
}

/// Where to ask and how patiently.
#[derive(clap::Args, Clone, Debug)]
pub struct Target {
    /// IPv4 address of the talker or listener (its --ip), optionally with
    /// :PORT (default 9700)
    #[arg(value_name = "ADDR[:PORT]", value_parser = parse_addr)]
    pub addr: SocketAddrV4,
    /// How long to wait for each reply, e.g. 500ms, 2s
    #[arg(long, default_value = "1s", value_parser = parse_timeout, value_name = "DURATION")]
    pub timeout: Duration,
    /// How many times to send the request before giving up
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub retries: u32,
}

/// Flags of `takt control status`.
#[derive(clap::Args, Clone, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: Target,
}

/// Flags of `takt control schedule`.
#[derive(clap::Args, Clone, Debug)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub target: Target,
    /// Schedule file (TOML, docs/schedule-format.md) to send
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the talker's reply as it came (JSON) instead of a sentence
    #[arg(long)]
    pub json: bool,
    /// File holding the key the talker was started with ([control]
    /// key_file, mode 600): the request is signed with it
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Send the file with [schedule] base_time set to now + DURATION on
    /// the schedule's clock, e.g. 2s
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub base_time_in: Option<u64>,
}

/// `A.B.C.D` or `A.B.C.D:PORT`.
pub fn parse_addr(text: &str) -> Result<SocketAddrV4, String> {
    let bad = || {
        format!(
            "\"{text}\" is not an IPv4 address: write A.B.C.D or A.B.C.D:PORT, e.g. 10.77.0.1 or 10.77.0.1:9700 (host names are not looked up)"
        )
    };
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Ok(SocketAddrV4::new(ip, DEFAULT_PORT));
    }
    let addr = text.parse::<SocketAddrV4>().map_err(|_| bad())?;
    if addr.port() == 0 {
        return Err(format!(
            "\"{text}\": port 0 cannot be asked; leave the port out for 9700 or give the server's port"
        ));
    }
    Ok(addr)
}

fn parse_duration(text: &str) -> Result<u64, String> {
    units::parse_duration_ns(text)
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    match units::parse_duration_ns(text)? {
        0 => Err(format!(
            "\"{text}\": the timeout must be more than 0, e.g. 1s"
        )),
        ns => Ok(Duration::from_nanos(ns)),
    }
}

/// Why no reply could be had.
#[derive(Debug)]
pub enum NoReply {
    /// Every try timed out. `refused`: at least one was answered with ICMP
    /// port unreachable (the host is there, nothing listens on the port).
    Silent { refused: bool },
    /// The socket itself failed (no route, no such network, ...).
    Io(io::Error),
}

/// Send `request` to `addr` up to `tries` times, waiting `timeout` for a
/// reply after each; the first datagram that comes back is the reply.
pub fn exchange(
    addr: SocketAddrV4,
    request: &[u8],
    timeout: Duration,
    tries: u32,
) -> Result<Vec<u8>, NoReply> {
    exchange_with(addr, &mut || request.to_vec(), timeout, tries)
}

/// As [`exchange`], with the request made afresh for each try (a signed
/// one gets a new counter: the service refuses a counter it has seen).
pub fn exchange_with(
    addr: SocketAddrV4,
    request: &mut dyn FnMut() -> Vec<u8>,
    timeout: Duration,
    tries: u32,
) -> Result<Vec<u8>, NoReply> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(NoReply::Io)?;
    // Connected: the kernel drops datagrams from anyone else, and an ICMP
    // port unreachable shows up as ConnectionRefused.
    sock.connect(addr).map_err(NoReply::Io)?;
    // Replies are up to ~16 KB in IP fragments; this holds any datagram.
    let mut buf = vec![0u8; 65536];
    let mut refused = false;
    for _ in 0..tries {
        let deadline = Instant::now() + timeout;
        match sock.send(&request()) {
            Ok(_) => {}
            // The ICMP error of an earlier try, reported on this send.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => refused = true,
            Err(e) => return Err(NoReply::Io(e)),
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            sock.set_read_timeout(Some(left)).map_err(NoReply::Io)?;
            match sock.recv(&mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    // Keep the try's full length: a server that is just
                    // starting should get the same chance as a slow one.
                    refused = true;
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    break;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) => return Err(NoReply::Io(e)),
            }
        }
    }
    Err(NoReply::Silent { refused })
}

/// The sentence for a request that got no reply. `who` names the servers
/// that answer this request.
pub fn no_reply_message(target: &Target, who: &str, why: &NoReply) -> String {
    let addr = target.addr;
    let ip = addr.ip();
    match why {
        NoReply::Silent { refused } => {
            let tries = format!(
                "no reply from {addr} after {} tries of {}",
                target.retries,
                units::format_ns(u64::try_from(target.timeout.as_nanos()).unwrap_or(u64::MAX)),
            );
            if *refused {
                // The host is there; only the port is wrong or closed.
                format!(
                    "{tries}: {ip} answered \"port unreachable\", so nothing listens on UDP port {} there: is {who} running with --ip {ip}/24, and on that port?",
                    addr.port()
                )
            } else {
                format!("{tries}: is {who} running with --ip {ip}/24 and a route to it?")
            }
        }
        NoReply::Io(e) => {
            format!("cannot reach {addr}: {e}: is there a route to {ip} (`ip route get {ip}`)?")
        }
    }
}

/// `json` (valid JSON) indented by two spaces, keys in the order they came
/// (serde_json's map would sort them, and the report's order is its
/// reading order).
pub fn pretty(json: &str) -> String {
    let mut out = String::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // `{}` and `[]` stay on one line.
                let close = if c == '{' { '}' } else { ']' };
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// A server error with its `request:` prefix (the request was the file)
/// replaced by the file name on every line, so it reads `FILE:12:5: ...`.
pub fn with_file_name(error: &str, file: &str) -> String {
    error
        .lines()
        .map(|line| match line.strip_prefix("request:") {
            Some(rest) => format!("{file}:{rest}"),
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A key's line inside the `[schedule]` table: the line index and the byte
/// range of its value (after `=`, before any comment).
fn schedule_key(text: &str, key: &str) -> Option<(usize, std::ops::Range<usize>)> {
    let mut in_schedule = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_schedule = table_header(trimmed) == Some("schedule");
            continue;
        }
        if !in_schedule {
            continue;
        }
        let Some(rest) = trimmed.strip_prefix(key) else {
            continue;
        };
        let Some(after_eq) = rest.trim_start().strip_prefix('=') else {
            continue; // a longer key such as base_time_x
        };
        let value_start = line.len() - after_eq.trim_start().len();
        let value = &line[value_start..];
        // Values here are integers, durations or clock names: no '#' in them.
        let value_len = value.find('#').unwrap_or(value.len());
        let value_end = value_start + value[..value_len].trim_end().len();
        return Some((i, value_start..value_end));
    }
    None
}

/// `[name]` -> `Some("name")`; `[[name.entry]]` and others -> their name.
fn table_header(line: &str) -> Option<&str> {
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    Some(inner[..end].trim())
}

/// The clock `[schedule]` names (TAI when it names none or one takt does
/// not know; the talker reports the latter against the file).
pub fn schedule_clock(text: &str) -> ClockId {
    schedule_key(text, "clock")
        .and_then(|(i, range)| {
            let line = text.lines().nth(i)?;
            line[range].trim_matches('"').parse().ok()
        })
        .unwrap_or_default()
}

/// `text` with the value of `[schedule]` `base_time` replaced by
/// `base_ns`; every other byte (and so every other line:col) unchanged.
pub fn rewrite_base_time(text: &str, base_ns: u64) -> Result<String, String> {
    let (line_no, range) = schedule_key(text, "base_time").ok_or_else(|| {
        "has no base_time line in its [schedule] table: add `base_time = 0` there for --base-time-in to set".to_string()
    })?;
    let line_start: usize = text.split_inclusive('\n').take(line_no).map(str::len).sum();
    let mut out = String::with_capacity(text.len() + 20);
    out.push_str(&text[..line_start + range.start]);
    out.push_str(&base_ns.to_string());
    out.push_str(&text[line_start + range.end..]);
    Ok(out)
}

/// `takt control` against the network, stdout and stderr.
pub fn main(args: &ControlArgs) -> ExitCode {
    let code = match &args.command {
        ControlCommand::Status(a) => status(a),
        ControlCommand::Schedule(a) => schedule(a),
    };
    ExitCode::from(code)
}

/// `status\n` and spaces up to `len` bytes.
fn padded_status(len: usize) -> Vec<u8> {
    let mut r = b"status\n".to_vec();
    r.resize(len.clamp(r.len(), MAX_REQUEST_BYTES), b' ');
    r
}

fn status(args: &StatusArgs) -> u8 {
    let target = &args.target;
    let ask = |len: usize| {
        exchange(
            target.addr,
            &padded_status(len),
            target.timeout,
            target.retries,
        )
    };
    let mut asked = ask(STATUS_PAD_BYTES);
    // A report longer than 3 x the request: the server says how long the
    // request must be; ask once more with that.
    let pad_to = asked.as_ref().ok().and_then(|r| {
        let v: serde_json::Value = serde_json::from_slice(r).ok()?;
        v.get("pad_to")?.as_u64()
    });
    if let Some(n) = pad_to {
        asked = ask(usize::try_from(n).unwrap_or(MAX_REQUEST_BYTES));
    }
    let reply = match asked {
        Ok(reply) => reply,
        Err(why) => {
            let who = "takt-talker (or takt-listener)";
            eprintln!(
                "takt control status: {}",
                no_reply_message(target, who, &why)
            );
            return EXIT_FAILED;
        }
    };
    let (text, value) = match parse_reply(&reply, target.addr) {
        Ok(parsed) => parsed,
        Err(msg) => {
            eprintln!("takt control status: {msg}");
            return EXIT_FAILED;
        }
    };
    if let Some(error) = value.get("error").and_then(|e| e.as_str()) {
        eprintln!(
            "takt control status: {} refused the request: {}",
            target.addr,
            takt_scheduler::printable(error)
        );
        return EXIT_FAILED;
    }
    print_out("status", &pretty(text), EXIT_OK)
}

fn schedule(args: &ScheduleArgs) -> u8 {
    let target = &args.target;
    let name = args.file.display().to_string();
    let text = match std::fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("takt control schedule: cannot read {name}: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let clock = schedule_clock(&text);
    let text = match args.base_time_in {
        None => text,
        Some(delay) => match rewrite_base_time(&text, clock.now_ns().saturating_add(delay)) {
            Ok(text) => text,
            Err(msg) => {
                eprintln!("takt control schedule: {name} {msg}");
                return EXIT_BAD_INPUT;
            }
        },
    };
    let Some(key_path) = &args.key_file else {
        eprintln!("takt control schedule: a schedule change must be signed: give --key-file FILE, the key the talker was started with ([control] key_file; docs/control-plane.md)");
        return EXIT_BAD_INPUT;
    };
    let key = match auth::load_key(key_path) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("takt control schedule: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let mut request = b"schedule\n".to_vec();
    request.extend_from_slice(text.as_bytes());
    if request.len() + auth::HEADER_MAX_BYTES > MAX_REQUEST_BYTES {
        eprintln!(
            "takt control schedule: {name} is {} bytes; a request holds at most {} bytes of schedule: remove comments or entries",
            text.len(),
            MAX_SCHEDULE_BYTES
        );
        return EXIT_BAD_INPUT;
    }
    let reply = match exchange_with(
        target.addr,
        &mut signer(&key, target.addr, request),
        target.timeout,
        target.retries,
    ) {
        Ok(reply) => reply,
        Err(why) => {
            eprintln!(
                "takt control schedule: {} (a talker also stays silent when the request is not signed with its key, or the clocks here and there differ by more than 30 s: its report counts each refusal)",
                no_reply_message(target, "takt-talker", &why)
            );
            return EXIT_FAILED;
        }
    };
    let (raw, value) = match parse_reply(&reply, target.addr) {
        Ok(parsed) => parsed,
        Err(msg) => {
            eprintln!("takt control schedule: {msg}");
            return EXIT_FAILED;
        }
    };
    let accepted = value.get("accepted").and_then(|a| a.as_bool());
    let error = value.get("error").and_then(|e| e.as_str());
    let code = match (accepted, error) {
        (Some(true), _) => EXIT_OK,
        (_, Some(error)) => {
            if !args.json {
                // The reply is the network's: print it harmlessly.
                let error = takt_scheduler::printable(error);
                eprintln!("{}", with_file_name(&error, &name));
            }
            EXIT_BAD_INPUT
        }
        _ => {
            eprintln!(
                "takt control schedule: {} sent a reply with neither \"accepted\":true nor \"error\": {raw}",
                target.addr
            );
            return EXIT_FAILED;
        }
    };
    if args.json {
        return print_out("schedule", raw, code);
    }
    if code != EXIT_OK {
        return code;
    }
    let ns = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_u64())
            .map_or_else(|| "?".to_string(), |n| n.to_string())
    };
    let line = format!(
        "accepted: switches at {} ({} ns; requested {})",
        ns("switch_at_ns"),
        clock.as_str().to_uppercase(),
        ns("requested_base_ns")
    );
    print_out("schedule", &line, code)
}

/// Each call signs `request` with a new counter: now (ns since the Unix
/// epoch), and always above the last one.
fn signer(key: &Key, to: SocketAddrV4, request: Vec<u8>) -> impl FnMut() -> Vec<u8> + '_ {
    let mut last = 0u64;
    move || {
        last = auth::realtime_ns().max(last + 1);
        auth::signed_request(key, *to.ip(), to.port(), last, &request)
    }
}

/// The reply as text and as a JSON value, or what is wrong with it.
fn parse_reply(reply: &[u8], from: SocketAddrV4) -> Result<(&str, serde_json::Value), String> {
    let text = std::str::from_utf8(reply)
        .map_err(|_| {
            format!("the reply from {from} is not UTF-8 text: is a takt server on that port?")
        })?
        .trim();
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        format!("the reply from {from} is not JSON ({e}): is a takt server on that port?")
    })?;
    if !value.is_object() {
        return Err(format!(
            "the reply from {from} is not a JSON object: is a takt server on that port?"
        ));
    }
    Ok((text, value))
}

/// `line` and a newline on stdout; `code`, or 1 when stdout is gone.
fn print_out(command: &str, line: &str, code: u8) -> u8 {
    let mut out = io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => EXIT_FAILED,
        Err(e) => {
            eprintln!("takt control {command}: cannot write the output: {e}");
            EXIT_FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("10.77.0.1").unwrap(),
            "10.77.0.1:9700".parse().unwrap()
        );
        assert_eq!(
            parse_addr("10.77.0.1:9800").unwrap(),
            "10.77.0.1:9800".parse().unwrap()
        );
        for bad in [
            "talker.local",
            "10.77.0",
            "10.77.0.1:",
            "10.77.0.1:70000",
            "::1",
        ] {
            let err = parse_addr(bad).unwrap_err();
            assert!(err.contains("A.B.C.D:PORT"), "{bad}: {err}");
        }
        assert!(parse_addr("10.77.0.1:0").unwrap_err().contains("port 0"));
    }

    #[test]
    fn pretty_keeps_key_order_and_strings() {
        let json = r#"{"z":1,"a":{"s":"a,b:{c}\"]","e":[],"o":{}},"l":[1,2]}"#;
        let out = pretty(json);
        assert_eq!(
            out,
            "{\n  \"z\": 1,\n  \"a\": {\n    \"s\": \"a,b:{c}\\\"]\",\n    \"e\": [],\n    \"o\": {}\n  },\n  \"l\": [\n    1,\n    2\n  ]\n}"
        );
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
    }

    #[test]
    fn file_name_replaces_request_prefix() {
        assert_eq!(
            with_file_name("request:12:5: error: cycle_time is zero", "new.toml"),
            "new.toml:12:5: error: cycle_time is zero"
        );
        assert_eq!(with_file_name("talker only", "new.toml"), "talker only");
    }

    const FILE: &str = "# base_time = 1 in a comment\n[schedule]\nclock = \"realtime\" # why\nbase_time = \"1000s\"   # start\ncycle_time = \"1ms\"\n\n[admin]\nbase_time = 5\n";

    #[test]
    fn base_time_rewrite_touches_only_the_value() {
        let out = rewrite_base_time(FILE, 42).unwrap();
        assert_eq!(out, FILE.replace("base_time = \"1000s\"", "base_time = 42"));
        assert_eq!(schedule_clock(FILE), ClockId::Realtime);
        assert_eq!(schedule_clock("[schedule]\nbase_time = 0\n"), ClockId::Tai);
        let err = rewrite_base_time("[schedule]\ncycle_time = 1\n[admin]\nbase_time = 5\n", 1)
            .unwrap_err();
        assert!(err.contains("add `base_time = 0`"), "{err}");
    }
}
