//! An ephemeral Postgres server: `initdb` into a temp dir, `postgres` on a free loopback port.

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid, User};
use tempfile::TempDir;

use crate::orphans::{self, Kind, POSTGRES_PREFIX};
use crate::process::{STOP_GRACE, free_port, log_tail, port_open, terminate};

/// How long the server gets to accept connections after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a start is retried when the free port was taken in the meantime.
const PORT_ATTEMPTS: usize = 5;

/// A private Postgres server for one test or demo, torn down on drop.
///
/// [`start`](Self::start) runs `initdb` into a fresh temp dir (trust auth, superuser `postgres`)
/// and starts `postgres` on a free `127.0.0.1` port with `fsync=off` (committed data survives a
/// server restart, not a machine crash) and its Unix socket inside
/// the temp dir. Running as root, both run as the unprivileged `postgres` system user (the temp
/// dir is handed to that user). Dropping the handle, or [`stop`](Self::stop), stops the server,
/// waits for it, and removes the temp dir; [`kill`](Self::kill) and [`restart`](Self::restart)
/// simulate an outage mid-test. If the owning process dies without dropping it (SIGKILL), the
/// next start of any ephemeral server reaps it: see [`reap_orphans`](crate::reap_orphans).
///
/// The binaries are found through `FORZE_PG_BINDIR`, `pg_config --bindir`,
/// `/usr/lib/postgresql/*/bin` (newest first), then `PATH`.
///
/// # Examples
///
/// ```no_run
/// let mut pg = forze_testkit::EphemeralPostgres::start()?;
/// let url = pg.url(); // postgres://postgres@127.0.0.1:<port>/postgres
/// pg.kill()?;         // connections now fail
/// pg.restart()?;      // same port, same data
/// # drop(url);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct EphemeralPostgres {
    dir: Option<TempDir>,
    child: Option<Child>,
    port: u16,
    bindir: PathBuf,
    run_as: Option<(Uid, Gid)>,
}

impl EphemeralPostgres {
    /// Initialize a cluster in a temp dir and start the server; returns once it accepts
    /// connections.
    ///
    /// # Errors
    ///
    /// If the binaries cannot be found, `initdb` fails, or the server does not become ready
    /// within 60 s (the error carries the tail of its log).
    pub fn start() -> io::Result<Self> {
        orphans::reap_orphans();
        let bindir = find_bindir()?;
        let dir = tempfile::Builder::new().prefix(POSTGRES_PREFIX).tempdir()?;
        orphans::write_owner(dir.path(), Kind::Postgres, None)?;
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = User::from_name("postgres")
                .map_err(io::Error::from)?
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        "running as root, Postgres needs an unprivileged user, and no `postgres` \
                         system user exists (create one, or run as a normal user)",
                    )
                })?;
            std::os::unix::fs::chown(dir.path(), Some(user.uid.as_raw()), Some(user.gid.as_raw()))?;
            Some((user.uid, user.gid))
        } else {
            None
        };
        let mut pg = EphemeralPostgres {
            dir: Some(dir),
            child: None,
            port: 0,
            bindir,
            run_as,
        };
        pg.initdb()?;
        pg.start_on_free_port()?;
        Ok(pg)
    }

    /// The connection URL: `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The TCP port (kept across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The temp dir holding the data dir, the socket and `postgres.log`.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), TempDir::path)
    }

    /// Whether the server process is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stop the server now (fast shutdown: open connections are terminated, their transactions
    /// rolled back), keeping the committed data so that [`restart`](Self::restart) can bring it
    /// back. SIGKILL after 10 s if it hangs.
    ///
    /// # Errors
    ///
    /// If the process could not be signalled or waited for.
    pub fn kill(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Signal::SIGINT, STOP_GRACE)?;
        }
        Ok(())
    }

    /// Start the server again on the same port with the same data (after [`kill`](Self::kill));
    /// a running server is killed first.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start), or if the port was taken in the meantime.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill()?;
        self.spawn_and_wait(self.port).map_err(|(e, _)| e)
    }

    /// Stop the server, wait for it, and remove the temp dir.
    ///
    /// # Errors
    ///
    /// If the process could not be stopped or the temp dir not removed.
    pub fn stop(mut self) -> io::Result<()> {
        self.kill()?;
        match self.dir.take() {
            Some(dir) => dir.close(),
            None => Ok(()),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir().join("postgres.log")
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(program));
        // The unprivileged user may not be able to enter the caller's working directory.
        cmd.current_dir(self.dir());
        for var in [
            "PGDATA",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGOPTIONS",
        ] {
            cmd.env_remove(var);
        }
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd
    }

    fn initdb(&self) -> io::Result<()> {
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdin(Stdio::null())
            .output()?;
        if out.status.success() {
            return Ok(());
        }
        let who = if self.run_as.is_some() {
            format!(
                " (as user `postgres`: can it reach {}?)",
                self.dir().display()
            )
        } else {
            String::new()
        };
        Err(io::Error::other(format!(
            "initdb failed with {}{who}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }

    fn start_on_free_port(&mut self) -> io::Result<()> {
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            match self.spawn_and_wait(port) {
                Ok(()) => return Ok(()),
                Err((e, port_taken)) if port_taken => last = Some(e),
                Err((e, _)) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("postgres could not find a free port")))
    }

    /// Spawn on `port` and wait until ready. The flag tells a lost race for the port.
    fn spawn_and_wait(&mut self, port: u16) -> Result<(), (io::Error, bool)> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| (e, false))?;
        let log_err = log.try_clone().map_err(|e| (e, false))?;
        let socket_dir = self.dir().to_path_buf();
        let mut child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(port.to_string())
            .arg("-c")
            .arg("listen_addresses=127.0.0.1")
            .arg("-c")
            .arg(format!("unix_socket_directories={}", socket_dir.display()))
            .args([
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=32MB",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| (e, false))?;
        self.port = port;
        let bin = self.bindir.join("postgres");
        if let Err(e) = orphans::write_owner(self.dir(), Kind::Postgres, Some((child.id(), &bin))) {
            let _ = terminate(&mut child, Signal::SIGQUIT, STOP_GRACE);
            return Err((e, false));
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let tail = log_tail(&self.log_path(), 2000);
                    let port_taken = tail.contains("could not bind")
                        || tail.contains("Address already in use")
                        || tail.contains("could not create any TCP/IP sockets");
                    return Err((
                        io::Error::other(format!(
                            "postgres exited with {status} before accepting connections; log:\n{tail}"
                        )),
                        port_taken,
                    ));
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = terminate(&mut child, Signal::SIGQUIT, STOP_GRACE);
                    return Err((e, false));
                }
            }
            if self.pid_file_says_ready() && port_open(port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = terminate(&mut child, Signal::SIGQUIT, STOP_GRACE);
                return Err((
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "postgres did not accept connections within {READY_TIMEOUT:?}; log:\n{}",
                            log_tail(&self.log_path(), 2000)
                        ),
                    ),
                    false,
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Postgres 10+ writes its status as the 8th line of `postmaster.pid`.
    fn pid_file_says_ready(&self) -> bool {
        std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().nth(7).map(|l| l.trim() == "ready"))
            .unwrap_or(false)
    }
}

impl Drop for EphemeralPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.kill() {
            eprintln!("forze-testkit: stopping ephemeral postgres failed: {e}");
        }
        // The TempDir removes itself.
    }
}

fn has_server_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// Where `initdb` and `postgres` live.
fn find_bindir() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("FORZE_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        if has_server_binaries(&dir) {
            return Ok(dir);
        }
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "FORZE_PG_BINDIR={} has no initdb and postgres",
                dir.display()
            ),
        ));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server_binaries(&dir) {
            return Ok(dir);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                Some((v, e.path().join("bin")))
            })
            .filter(|(_, bin)| has_server_binaries(bin))
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.0));
        if let Some((_, bin)) = versions.into_iter().next() {
            return Ok(bin);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_server_binaries(&dir) {
                return Ok(dir);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "no Postgres server binaries (initdb, postgres) found: tried FORZE_PG_BINDIR, \
         `pg_config --bindir`, /usr/lib/postgresql/*/bin and PATH; install the PostgreSQL server \
         package (for example `apt-get install postgresql`)",
    ))
}
