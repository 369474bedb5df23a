//! An ephemeral Redis server: `redis-server` on a free loopback port, no persistence; optionally
//! TLS-only with a throwaway CA made by the `openssl` command.
//!
//! Self-contained apart from the tiny process helpers in `process.rs`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::orphans::{self, Kind, REDIS_PREFIX};
use crate::process::{STOP_GRACE, free_port, log_tail, port_open, terminate};

/// How long the server gets to answer PING after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a start is retried when the free port was taken in the meantime.
const PORT_ATTEMPTS: usize = 5;
/// What `redis-server` logs once it accepts connections.
const READY_LINE: &str = "Ready to accept connections";
/// Validity of the generated test certificates, in days.
const CERT_DAYS: &str = "30";

/// Extra settings for [`EphemeralRedis::start_with`].
///
/// ```
/// use forze_testkit::RedisOptions;
///
/// let opts = RedisOptions::new()
///     .password("s3cret")
///     .config_line(r#"rename-command FLUSHALL """#);
/// let tls = RedisOptions::new().tls(); // TLS only: connect with `EphemeralRedis::tls_url`
/// # drop((opts, tls));
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct RedisOptions {
    /// `requirepass`; the URL then carries it.
    pub password: Option<String>,
    /// Lines appended to the generated `redis.conf` (for example `rename-command ...`).
    pub config_lines: Vec<String>,
    /// The `redis-server` binary (default: `redis-server` from `PATH`, or `FORZE_REDIS_SERVER`).
    pub binary: Option<PathBuf>,
    /// Listen for TLS only (`port 0`, `tls-port <port>`), with a throwaway CA and a server
    /// certificate for `127.0.0.1` and `localhost` made by the `openssl` command in the temp
    /// dir; clients need no certificate (`tls-auth-clients no`).
    pub tls: bool,
}

impl RedisOptions {
    /// No password, no extra configuration.
    pub fn new() -> Self {
        RedisOptions::default()
    }

    /// Require this password (`requirepass`).
    #[must_use]
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Append one line to the server's configuration.
    #[must_use]
    pub fn config_line(mut self, line: impl Into<String>) -> Self {
        self.config_lines.push(line.into());
        self
    }

    /// Listen for TLS only, with a throwaway CA (see [`RedisOptions::tls`](#structfield.tls));
    /// needs `openssl` on `PATH` (or `FORZE_OPENSSL`) and a `redis-server` built with TLS.
    #[must_use]
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("config_lines", &self.config_lines.len())
            .field("binary", &self.binary)
            .field("tls", &self.tls)
            .finish()
    }
}

/// A private Redis server for one test or demo, torn down on drop.
///
/// Runs `redis-server --port <free> --bind 127.0.0.1 --save "" --appendonly no --dir <tmp>`
/// (as a generated config file), returns once it answers `PING` (with
/// [`RedisOptions::tls`]: `--port 0 --tls-port <free>` plus the certificate files, ready once
/// it logged that it accepts connections and the port is open). [`kill`](Self::kill) kills it
/// (SIGKILL, like a crash) and [`restart`](Self::restart) brings up an empty server on the same
/// port, for outage tests. Dropping the handle kills it, waits for it, and removes the temp dir.
/// If the owning process dies without dropping it (SIGKILL), the next start of any ephemeral
/// server reaps it: see [`reap_orphans`](crate::reap_orphans).
///
/// # Examples
///
/// ```no_run
/// let mut redis = forze_testkit::EphemeralRedis::start()?;
/// let url = redis.url(); // redis://127.0.0.1:<port>
/// redis.kill()?;         // calls now fail
/// redis.restart()?;      // empty again, same port
/// # drop(url);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct EphemeralRedis {
    dir: Option<TempDir>,
    child: Option<Child>,
    port: u16,
    options: RedisOptions,
}

impl EphemeralRedis {
    /// Start a server with the defaults.
    ///
    /// # Errors
    ///
    /// If `redis-server` cannot be run or does not answer PING within 30 s (the error carries the
    /// tail of its log).
    pub fn start() -> io::Result<Self> {
        Self::start_with(RedisOptions::new())
    }

    /// Start a server with a password or extra configuration lines.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub fn start_with(options: RedisOptions) -> io::Result<Self> {
        orphans::reap_orphans();
        let dir = tempfile::Builder::new().prefix(REDIS_PREFIX).tempdir()?;
        orphans::write_owner(dir.path(), Kind::Redis, None)?;
        if options.tls {
            write_tls_files(dir.path())?;
        }
        let mut redis = EphemeralRedis {
            dir: Some(dir),
            child: None,
            port: 0,
            options,
        };
        let mut last = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            match redis.spawn_and_wait(port) {
                Ok(()) => return Ok(redis),
                Err((e, true)) => last = Some(e),
                Err((e, false)) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("redis could not find a free port")))
    }

    /// The connection URL: `redis://127.0.0.1:<port>`, or `redis://:<password>@127.0.0.1:<port>`.
    /// A TLS server has no plaintext port: its URL is the [`tls_url`](Self::tls_url).
    pub fn url(&self) -> String {
        let scheme = if self.options.tls { "rediss" } else { "redis" };
        match &self.options.password {
            Some(pw) => format!("{scheme}://:{pw}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// With [`RedisOptions::tls`]: `rediss://[:<password>@]127.0.0.1:<port>`; the server's
    /// certificate is signed by the CA at [`tls_ca_path`](Self::tls_ca_path).
    pub fn tls_url(&self) -> Option<String> {
        self.options.tls.then(|| self.url())
    }

    /// With [`RedisOptions::tls`]: the PEM file of the throwaway CA that signed the server's
    /// certificate (`ca.crt` in the temp dir).
    pub fn tls_ca_path(&self) -> Option<PathBuf> {
        self.options.tls.then(|| self.dir().join(TLS_CA))
    }

    /// The TCP port (kept across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The temp dir holding `redis.conf` and `redis.log`.
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

    /// Kill the server (SIGKILL, like a crash) and wait for it. The port stays reserved for
    /// [`restart`](Self::restart) only by convention: nothing else should take it meanwhile.
    ///
    /// # Errors
    ///
    /// If the process could not be killed or waited for.
    pub fn kill(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Signal::SIGKILL, STOP_GRACE)?;
        }
        Ok(())
    }

    /// Start an empty server on the same port (a running one is killed first).
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
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Signal::SIGTERM, STOP_GRACE)?;
        }
        match self.dir.take() {
            Some(dir) => dir.close(),
            None => Ok(()),
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir().join("redis.log")
    }

    fn write_config(&self, port: u16) -> io::Result<PathBuf> {
        let path = self.dir().join("redis.conf");
        let mut conf = String::new();
        if self.options.tls {
            let file = |name| self.dir().join(name).display().to_string();
            conf.push_str(&format!(
                "port 0\ntls-port {port}\nbind 127.0.0.1\ntls-cert-file \"{}\"\n\
                 tls-key-file \"{}\"\ntls-ca-cert-file \"{}\"\ntls-auth-clients no\n",
                file(TLS_SERVER_CERT),
                file(TLS_SERVER_KEY),
                file(TLS_CA)
            ));
        } else {
            conf.push_str(&format!("port {port}\nbind 127.0.0.1\n"));
        }
        conf.push_str("save \"\"\nappendonly no\ndaemonize no\nprotected-mode yes\n");
        conf.push_str(&format!("dir \"{}\"\n", self.dir().display()));
        if let Some(pw) = &self.options.password {
            conf.push_str(&format!("requirepass \"{}\"\n", pw.replace('"', "\\\"")));
        }
        for line in &self.options.config_lines {
            conf.push_str(line);
            conf.push('\n');
        }
        std::fs::write(&path, conf)?;
        Ok(path)
    }

    fn binary(&self) -> PathBuf {
        if let Some(bin) = &self.options.binary {
            return bin.clone();
        }
        std::env::var_os("FORZE_REDIS_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("redis-server"))
    }

    /// Spawn on `port` and wait for PING. The flag tells a lost race for the port.
    fn spawn_and_wait(&mut self, port: u16) -> Result<(), (io::Error, bool)> {
        let conf = self.write_config(port).map_err(|e| (e, false))?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| (e, false))?;
        let log_err = log.try_clone().map_err(|e| (e, false))?;
        let bin = self.binary();
        // For TLS readiness: only log lines of this start count.
        let log_start = std::fs::metadata(self.log_path()).map_or(0, |m| m.len());
        let mut child = Command::new(&bin)
            .arg(&conf)
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| {
                let hint = if e.kind() == io::ErrorKind::NotFound {
                    " (install Redis, for example `apt-get install redis-server`, or set \
                     FORZE_REDIS_SERVER)"
                } else {
                    ""
                };
                (
                    io::Error::new(
                        e.kind(),
                        format!("could not run {}: {e}{hint}", bin.display()),
                    ),
                    false,
                )
            })?;
        self.port = port;
        if let Err(e) = orphans::write_owner(self.dir(), Kind::Redis, Some((child.id(), &bin))) {
            let _ = terminate(&mut child, Signal::SIGKILL, STOP_GRACE);
            return Err((e, false));
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let tail = log_tail(&self.log_path(), 2000);
                    let port_taken = tail.contains("Address already in use");
                    let hint = if self.options.tls && tail.contains("tls-port") {
                        " (TLS needs a redis-server built with TLS support, e.g. Debian's \
                         `redis-server` package; set FORZE_REDIS_SERVER to one)"
                    } else {
                        ""
                    };
                    return Err((
                        io::Error::other(format!(
                            "redis-server exited with {status} before answering PING{hint}; \
                             log:\n{tail}"
                        )),
                        port_taken,
                    ));
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = terminate(&mut child, Signal::SIGKILL, STOP_GRACE);
                    return Err((e, false));
                }
            }
            let ready = if self.options.tls {
                logged_since(&self.log_path(), log_start, READY_LINE) && port_open(port)
            } else {
                ping(port)
            };
            if ready {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = terminate(&mut child, Signal::SIGKILL, STOP_GRACE);
                return Err((
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "redis-server did not answer PING within {READY_TIMEOUT:?}; log:\n{}",
                            log_tail(&self.log_path(), 2000)
                        ),
                    ),
                    false,
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for EphemeralRedis {
    fn drop(&mut self) {
        if let Err(e) = self.kill() {
            eprintln!("forze-testkit: stopping ephemeral redis failed: {e}");
        }
    }
}

/// Whether the log at `path` got `line` after byte `start`.
fn logged_since(path: &Path, start: u64, line: &str) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let start = usize::try_from(start)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).contains(line)
}

/// The CA certificate, server certificate and server key in the temp dir of a TLS server.
const TLS_CA: &str = "ca.crt";
const TLS_SERVER_CERT: &str = "server.crt";
const TLS_SERVER_KEY: &str = "server.key";

/// Make a throwaway CA and a server certificate for `127.0.0.1` and `localhost` in `dir`, with
/// the `openssl` command (ECDSA P-256).
fn write_tls_files(dir: &Path) -> io::Result<()> {
    let ca_key = dir.join("ca.key");
    generate_test_ca_into(&ca_key, &dir.join(TLS_CA), "forze-testkit test CA")?;
    let csr = dir.join("server.csr");
    openssl(&[
        "req".as_ref(),
        "-new".as_ref(),
        "-newkey".as_ref(),
        "ec".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:prime256v1".as_ref(),
        "-nodes".as_ref(),
        "-keyout".as_ref(),
        dir.join(TLS_SERVER_KEY).as_os_str(),
        "-out".as_ref(),
        csr.as_os_str(),
        "-subj".as_ref(),
        "/CN=localhost".as_ref(),
    ])?;
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )?;
    openssl(&[
        "x509".as_ref(),
        "-req".as_ref(),
        "-in".as_ref(),
        csr.as_os_str(),
        "-CA".as_ref(),
        dir.join(TLS_CA).as_os_str(),
        "-CAkey".as_ref(),
        ca_key.as_os_str(),
        "-set_serial".as_ref(),
        "2".as_ref(),
        "-days".as_ref(),
        CERT_DAYS.as_ref(),
        "-extfile".as_ref(),
        ext.as_os_str(),
        "-out".as_ref(),
        dir.join(TLS_SERVER_CERT).as_os_str(),
    ])
}

/// Write a fresh self-signed CA certificate (PEM) to `dir/ca.crt` and its key to `dir/ca.key`,
/// with the `openssl` command, and return the certificate's path.
///
/// For tests that need a CA which did *not* sign a server's certificate (see
/// [`RedisOptions::tls`]). Needs `openssl` on `PATH` (or `FORZE_OPENSSL`).
///
/// # Errors
///
/// If `openssl` cannot be run or fails (the error carries its output).
///
/// ```no_run
/// let dir = tempfile::tempdir()?;
/// let ca = forze_testkit::generate_test_ca(dir.path())?;
/// assert!(std::fs::read_to_string(ca)?.contains("BEGIN CERTIFICATE"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn generate_test_ca(dir: &Path) -> io::Result<PathBuf> {
    let cert = dir.join(TLS_CA);
    generate_test_ca_into(&dir.join("ca.key"), &cert, "forze-testkit other CA")?;
    Ok(cert)
}

fn generate_test_ca_into(key: &Path, cert: &Path, name: &str) -> io::Result<()> {
    let subject = format!("/CN={name}");
    openssl(&[
        "req".as_ref(),
        "-x509".as_ref(),
        "-newkey".as_ref(),
        "ec".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:prime256v1".as_ref(),
        "-nodes".as_ref(),
        "-keyout".as_ref(),
        key.as_os_str(),
        "-out".as_ref(),
        cert.as_os_str(),
        "-days".as_ref(),
        CERT_DAYS.as_ref(),
        "-subj".as_ref(),
        subject.as_ref(),
        "-addext".as_ref(),
        "basicConstraints=critical,CA:TRUE".as_ref(),
        "-addext".as_ref(),
        "keyUsage=critical,keyCertSign,cRLSign".as_ref(),
    ])
}

/// Run `openssl` with `args`; an error carries its output.
fn openssl(args: &[&std::ffi::OsStr]) -> io::Result<()> {
    let bin = std::env::var_os("FORZE_OPENSSL").unwrap_or_else(|| "openssl".into());
    let out = Command::new(&bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::NotFound {
                " (install it, for example `apt-get install openssl`, or set FORZE_OPENSSL)"
            } else {
                ""
            };
            io::Error::new(
                e.kind(),
                format!("could not run {}: {e}{hint}", Path::new(&bin).display()),
            )
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "`openssl {}` failed with {}: {}",
        args.first()
            .map_or(std::borrow::Cow::Borrowed(""), |a| a.to_string_lossy()),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Whether a Redis server answers on the loopback `port` (`+PONG`, or `-NOAUTH` with a password).
fn ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(n) if n > 0 => {
            let reply = &buf[..n];
            reply.starts_with(b"+PONG") || reply.starts_with(b"-NOAUTH")
        }
        _ => false,
    }
}
