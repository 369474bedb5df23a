//! Servers whose owner was SIGKILLed: recorded in an `owner` file, reaped on the next start.
//!
//! Every server's temp dir gets an `owner` file (written atomically: a temp file renamed into
//! place) naming the process that holds the handle and the server it started:
//!
//! ```text
//! kind=redis
//! owner_pid=4242
//! owner_start=1234567          # /proc/<pid>/stat field 22, so a recycled pid is not the owner
//! boot_id=…                    # /proc/sys/kernel/random/boot_id
//! pid_ns=pid:[4026531836]      # readlink /proc/self/ns/pid
//! server_pid=4250              # once spawned; rewritten on every (re)start
//! server_start=1234599
//! server_exe=redis-server
//! ```
//!
//! [`reap_orphans`] scans the system temp dir for `forze-pg-*` / `forze-redis-*` dirs whose owner
//! is gone (no such pid, another start time, or a zombie), stops the recorded server if it still
//! is that server, and removes the dir. Anything it cannot judge is left alone.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

/// Name of the owner record inside a server's temp dir.
pub(crate) const OWNER_FILE: &str = "owner";
/// Temp dir prefixes of the servers this crate starts.
pub(crate) const REDIS_PREFIX: &str = "forze-redis-";
pub(crate) const POSTGRES_PREFIX: &str = "forze-pg-";

/// How long an orphaned server gets to exit after its stop signal before it is SIGKILLed.
const REAP_GRACE: Duration = Duration::from_secs(5);
/// How long to wait for the SIGKILLed server to disappear.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// Which server a temp dir holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Redis,
    Postgres,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Redis => "redis",
            Kind::Postgres => "postgres",
        }
    }

    fn from_dir_name(name: &str) -> Option<Kind> {
        if name.starts_with(REDIS_PREFIX) {
            Some(Kind::Redis)
        } else if name.starts_with(POSTGRES_PREFIX) {
            Some(Kind::Postgres)
        } else {
            None
        }
    }

    /// The binary's default file name, when the owner file names none.
    fn default_exe(self) -> &'static str {
        match self {
            Kind::Redis => "redis-server",
            Kind::Postgres => "postgres",
        }
    }

    /// The stop signal: SIGTERM for Redis, SIGINT (fast shutdown) for Postgres, whose SIGTERM
    /// would wait for every client to disconnect.
    fn stop_signal(self) -> Signal {
        match self {
            Kind::Redis => Signal::SIGTERM,
            Kind::Postgres => Signal::SIGINT,
        }
    }
}

/// A process as `/proc/<pid>/stat` describes it.
struct ProcStat {
    state: char,
    start: u64,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Field 3 (state) and field 22 (start time, clock ticks after boot) of `/proc/<pid>/stat`. The
/// command name (field 2) is in parentheses and may itself contain spaces and parentheses.
fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some(ProcStat { state, start })
}

/// The start time of a living (not zombie) process.
fn living_start(pid: u32) -> Option<u64> {
    proc_stat(pid)
        .filter(|s| !matches!(s.state, 'Z' | 'X' | 'x'))
        .map(|s| s.start)
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
}

fn pid_ns() -> Option<OsString> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(PathBuf::into_os_string)
}

/// The owner record of one server temp dir.
#[derive(Debug, Default, PartialEq, Eq)]
struct Owner {
    kind: Option<String>,
    owner_pid: u32,
    owner_start: u64,
    boot_id: Option<String>,
    pid_ns: Option<String>,
    server_pid: Option<u32>,
    server_start: Option<u64>,
    server_exe: Option<String>,
}

impl Owner {
    fn render(&self) -> String {
        let mut s = String::new();
        if let Some(kind) = &self.kind {
            s.push_str(&format!("kind={kind}\n"));
        }
        s.push_str(&format!(
            "owner_pid={}\nowner_start={}\n",
            self.owner_pid, self.owner_start
        ));
        if let Some(v) = &self.boot_id {
            s.push_str(&format!("boot_id={v}\n"));
        }
        if let Some(v) = &self.pid_ns {
            s.push_str(&format!("pid_ns={v}\n"));
        }
        if let Some(v) = self.server_pid {
            s.push_str(&format!("server_pid={v}\n"));
        }
        if let Some(v) = self.server_start {
            s.push_str(&format!("server_start={v}\n"));
        }
        if let Some(v) = &self.server_exe {
            s.push_str(&format!("server_exe={v}\n"));
        }
        s
    }

    /// `None` unless both owner fields are there.
    fn parse(text: &str) -> Option<Owner> {
        let mut owner = Owner::default();
        let (mut pid, mut start) = (None, None);
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "kind" => owner.kind = Some(value.to_owned()),
                "owner_pid" => pid = value.parse().ok(),
                "owner_start" => start = value.parse().ok(),
                "boot_id" => owner.boot_id = Some(value.to_owned()),
                "pid_ns" => owner.pid_ns = Some(value.to_owned()),
                "server_pid" => owner.server_pid = value.parse().ok(),
                "server_start" => owner.server_start = value.parse().ok(),
                "server_exe" => owner.server_exe = Some(value.to_owned()),
                _ => {}
            }
        }
        owner.owner_pid = pid?;
        owner.owner_start = start?;
        Some(owner)
    }
}

/// Record this process as the owner of `dir`, and `server` (its pid and binary) once spawned.
///
/// Without `/proc` (not Linux) nothing is written: the owner's start time cannot be known, and
/// without it no other process would ever reap the dir anyway.
pub(crate) fn write_owner(dir: &Path, kind: Kind, server: Option<(u32, &Path)>) -> io::Result<()> {
    let me = std::process::id();
    let Some(owner_start) = living_start(me) else {
        return Ok(());
    };
    let record = Owner {
        kind: Some(kind.as_str().to_owned()),
        owner_pid: me,
        owner_start,
        boot_id: boot_id(),
        pid_ns: pid_ns().map(|ns| ns.to_string_lossy().into_owned()),
        server_pid: server.map(|(pid, _)| pid),
        server_start: server.and_then(|(pid, _)| proc_stat(pid)).map(|s| s.start),
        server_exe: server
            .and_then(|(_, exe)| Some(exe.file_name()?.to_string_lossy().into_owned())),
    };
    let tmp = dir.join(format!("{OWNER_FILE}.tmp"));
    std::fs::write(&tmp, record.render())?;
    std::fs::rename(&tmp, dir.join(OWNER_FILE))
}

/// Stop the servers of dead owners and remove their temp dirs, in the system temp dir
/// (`std::env::temp_dir()`, that is `TMPDIR` or `/tmp`).
///
/// [`EphemeralRedis::start`](crate::EphemeralRedis::start),
/// [`EphemeralPostgres::start`](crate::EphemeralPostgres::start) and the `forze-services` runner
/// call it first, so a test run that was SIGKILLed (a nextest timeout, a cancelled CI job,
/// `kill -9`) leaves its servers running only until the next start.
///
/// A `forze-pg-*` / `forze-redis-*` dir is reaped only if its `owner` file names a process that
/// is gone: no such pid, a different start time (the pid was recycled), or a zombie. Its server
/// is signalled (SIGTERM, SIGINT for Postgres; SIGKILL after 5 s) only while that pid still is
/// the server that was started there: same start time, `/proc/<pid>/comm` or `argv[0]` the
/// recorded binary, and its working directory or arguments inside the dir. Dirs without an
/// owner file (a start in progress, an older testkit), with a live owner, from another pid
/// namespace, or not ours (unless root) are left alone. Linux only; elsewhere it does nothing.
///
/// Never fails: problems are reported on stderr. Returns how many dirs were removed.
pub fn reap_orphans() -> usize {
    reap_orphans_in(&std::env::temp_dir())
}

fn reap_orphans_in(tmp: &Path) -> usize {
    // No /proc, no judgement.
    if living_start(std::process::id()).is_none() {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return 0;
    };
    let mut reaped = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(kind) = name.to_str().and_then(Kind::from_dir_name) else {
            continue;
        };
        if reap_dir(&entry.path(), kind) {
            reaped += 1;
        }
    }
    reaped
}

/// Whether the dir may be judged by this process: a real dir (not a symlink) that is ours, or
/// any when running as root.
fn ours(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return false;
    };
    meta.is_dir() && {
        let euid = nix::unistd::geteuid();
        euid.is_root() || meta.uid() == euid.as_raw()
    }
}

/// Reap one dir if its owner is dead; whether it was removed.
fn reap_dir(dir: &Path, kind: Kind) -> bool {
    if !ours(dir) {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(dir.join(OWNER_FILE)) else {
        return false; // being set up, or from a testkit that wrote no owner file
    };
    let Some(owner) = Owner::parse(&text) else {
        return false;
    };
    let same_boot = match (&owner.boot_id, boot_id()) {
        (Some(recorded), Some(now)) => *recorded == now,
        _ => true,
    };
    if same_boot {
        let our_ns = pid_ns().map(|ns| ns.to_string_lossy().into_owned());
        if owner.pid_ns.is_some() && our_ns.is_some() && owner.pid_ns != our_ns {
            return false; // its pids mean something else here
        }
        if living_start(owner.owner_pid) == Some(owner.owner_start) {
            return false; // the owner lives: never touch
        }
        if let Some(pid) = owner.server_pid
            && !stop_server(dir, kind, &owner, pid)
        {
            return false;
        }
    }
    // After a reboot every recorded process is gone: only the dir is left.
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {
            eprintln!(
                "forze-testkit: reaped orphaned {} {}{} (its owner, pid {}, is gone)",
                kind.as_str(),
                dir.display(),
                owner
                    .server_pid
                    .map_or(String::new(), |p| format!(", server pid {p}")),
                owner.owner_pid
            );
            true
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false, // reaped by someone else
        Err(e) => {
            eprintln!(
                "forze-testkit: could not remove orphaned {}: {e}",
                dir.display()
            );
            false
        }
    }
}

/// Whether `pid` still is the server that was started in `dir`.
fn is_server(dir: &Path, kind: Kind, owner: &Owner, pid: u32) -> bool {
    let Some(start) = living_start(pid) else {
        return false;
    };
    if owner.server_start.is_some_and(|s| s != start) {
        return false;
    }
    let exe = owner.server_exe.as_deref().unwrap_or(kind.default_exe());
    if exe.is_empty() {
        return false;
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let comm = comm.trim_end_matches('\n');
    let args: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let argv0 = args
        .first()
        .map(|a| a.split_whitespace().next().unwrap_or(""))
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or("");
    // The kernel cuts `comm` at 15 bytes.
    let comm_ok = comm == exe || (comm.len() == 15 && exe.starts_with(comm));
    if !(comm_ok || argv0 == exe) {
        return false;
    }
    let cwd_inside =
        std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c.starts_with(dir));
    let dir_text = dir.to_string_lossy();
    cwd_inside || args.iter().any(|a| a.contains(dir_text.as_ref()))
}

/// Stop the orphaned server `pid` (if it still is that server) and wait until it is gone;
/// whether it is gone (`false`: it still runs, or cannot be judged; leave the dir alone).
fn stop_server(dir: &Path, kind: Kind, owner: &Owner, pid: u32) -> bool {
    let gone = || match living_start(pid) {
        None => true,
        Some(start) => owner.server_start.is_some_and(|s| s != start),
    };
    if gone() {
        return true;
    }
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 1 || pid == std::process::id() {
        return false;
    }
    if !is_server(dir, kind, owner, pid) {
        // The pid lives but is not (provably) the server: another process now, or a server that
        // moved out of its dir. Only a recycled pid lets the dir go.
        if owner.server_start.is_some() {
            return true;
        }
        eprintln!(
            "forze-testkit: orphaned {} has a live pid {pid} that does not look like its server; \
             leaving it alone",
            dir.display()
        );
        return false;
    }
    for (sig, wait) in [
        (kind.stop_signal(), REAP_GRACE),
        (Signal::SIGKILL, KILL_WAIT),
    ] {
        // Checked again right before each signal: never signal a process that is not the server.
        if !is_server(dir, kind, owner, pid) {
            return gone();
        }
        match signal::kill(Pid::from_raw(raw), sig) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => {
                eprintln!(
                    "forze-testkit: cannot signal orphaned server {pid} of {}: {e}",
                    dir.display()
                );
                return false;
            }
        }
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if gone() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let gone = gone();
    if !gone {
        eprintln!(
            "forze-testkit: orphaned server {pid} of {} survived SIGKILL",
            dir.display()
        );
    }
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_tricky_command_name() {
        let line = "123 (a) b (c) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 \
                    1000 10 18446744073709551615";
        let stat = parse_stat(line).expect("parses");
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.start, 98765);
    }

    #[test]
    fn own_stat_is_readable_and_stable() {
        let me = std::process::id();
        let a = living_start(me).expect("/proc works");
        assert_eq!(living_start(me), Some(a));
    }

    #[test]
    fn owner_record_round_trips_and_needs_the_owner_fields() {
        let owner = Owner {
            kind: Some("redis".into()),
            owner_pid: 7,
            owner_start: 99,
            boot_id: Some("b".into()),
            pid_ns: Some("pid:[1]".into()),
            server_pid: Some(8),
            server_start: Some(100),
            server_exe: Some("redis-server".into()),
        };
        assert_eq!(Owner::parse(&owner.render()), Some(owner));
        assert_eq!(Owner::parse("owner_pid=7\n"), None);
        assert_eq!(Owner::parse("garbage"), None);
    }

    fn fake_dir(tmp: &Path, name: &str, owner: Option<&Owner>) -> PathBuf {
        let dir = tmp.join(name);
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("redis.conf"), "x").expect("write");
        if let Some(owner) = owner {
            std::fs::write(dir.join(OWNER_FILE), owner.render()).expect("write owner");
        }
        dir
    }

    #[test]
    fn live_owners_and_unknown_dirs_are_left_alone_dead_owners_reaped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let me = std::process::id();
        let my_start = living_start(me).expect("/proc works");
        let live = Owner {
            owner_pid: me,
            owner_start: my_start,
            boot_id: boot_id(),
            ..Owner::default()
        };
        // Same pid, other start time: a recycled pid, so the owner is dead; so is the server,
        // whose pid (now this test process) has another start time too.
        let recycled = Owner {
            owner_pid: me,
            owner_start: my_start + 1,
            boot_id: boot_id(),
            server_pid: Some(me),
            server_start: Some(my_start + 1),
            ..Owner::default()
        };
        // Dead owner, but the server pid lives and cannot be told apart: hands off.
        let unsure = Owner {
            server_start: None,
            ..Owner::parse(&recycled.render()).expect("parses")
        };
        let other_boot = Owner {
            owner_pid: me,
            owner_start: my_start,
            boot_id: Some("another-boot".into()),
            ..Owner::default()
        };
        let live_dir = fake_dir(tmp.path(), "forze-redis-live", Some(&live));
        let bare_dir = fake_dir(tmp.path(), "forze-pg-bare", None);
        let unrelated = fake_dir(tmp.path(), "something-else", Some(&recycled));
        let dead_dir = fake_dir(tmp.path(), "forze-redis-dead", Some(&recycled));
        let reboot_dir = fake_dir(tmp.path(), "forze-pg-reboot", Some(&other_boot));
        let unsure_dir = fake_dir(tmp.path(), "forze-redis-unsure", Some(&unsure));

        assert_eq!(
            reap_orphans_in(tmp.path()),
            1 + usize::from(boot_id().is_some())
        );
        assert!(live_dir.exists());
        assert!(bare_dir.exists());
        assert!(unrelated.exists());
        assert!(!dead_dir.exists());
        assert!(unsure_dir.exists());
        assert_eq!(reboot_dir.exists(), boot_id().is_none());
    }
}
