//! `forze-services -- <cmd> <args…>`: run a command with a Postgres and a Redis server.
//!
//! For each of `FORZE_TEST_POSTGRES_URL` and `FORZE_TEST_REDIS_URL` that is set, the command uses
//! that server. For each that is not, an ephemeral server is started from the local binaries and
//! its URL exported into the command's environment. Afterwards the ephemeral servers are torn
//! down (process stopped, temp dir removed) — also when the command fails, and on SIGINT, SIGTERM
//! or SIGHUP, which are forwarded to the command first. The exit code is the command's (128 + the
//! signal number if it died of a signal).

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitCode, ExitStatus};
use std::time::Duration;

use forze_testkit::{EphemeralPostgres, EphemeralRedis, POSTGRES_URL_VAR, REDIS_URL_VAR};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal as unix_signal};

/// How long the command gets to exit after a forwarded signal before it is SIGKILLed.
const CHILD_GRACE: Duration = Duration::from_secs(30);

const USAGE: &str = "usage: forze-services -- <command> [args...]";

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() || args[0] == "-h" || args[0] == "--help" {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("forze-services: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run(args));
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn env_set(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| !v.trim().is_empty())
}

struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Signals {
            int: unix_signal(SignalKind::interrupt())?,
            term: unix_signal(SignalKind::terminate())?,
            hup: unix_signal(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::SIGINT,
            _ = self.term.recv() => Signal::SIGTERM,
            _ = self.hup.recv() => Signal::SIGHUP,
        }
    }
}

struct Services {
    postgres: Option<EphemeralPostgres>,
    redis: Option<EphemeralRedis>,
}

/// Start the servers that are not configured (blocking; runs on a worker thread).
fn start_services(need_pg: bool, need_redis: bool) -> Result<Services, String> {
    let postgres = if need_pg {
        Some(EphemeralPostgres::start().map_err(|e| format!("cannot start postgres: {e}"))?)
    } else {
        None
    };
    let redis = if need_redis {
        Some(EphemeralRedis::start().map_err(|e| format!("cannot start redis: {e}"))?)
    } else {
        None
    };
    Ok(Services { postgres, redis })
}

fn teardown(services: Services) {
    if let Some(pg) = services.postgres
        && let Err(e) = pg.stop()
    {
        eprintln!("forze-services: stopping postgres failed: {e}");
    }
    if let Some(redis) = services.redis
        && let Err(e) = redis.stop()
    {
        eprintln!("forze-services: stopping redis failed: {e}");
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    }
}

fn forward(child: &Child, sig: Signal) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = signal::kill(Pid::from_raw(pid), sig);
    }
}

async fn run(args: Vec<OsString>) -> i32 {
    // Handlers first, so that a signal during startup cannot leave servers behind.
    let mut signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("forze-services: cannot install signal handlers: {e}");
            return 1;
        }
    };
    // Servers of runs that were SIGKILLed go first, also when none is started here.
    let _ = tokio::task::spawn_blocking(forze_testkit::reap_orphans).await;
    let need_pg = !env_set(POSTGRES_URL_VAR);
    let need_redis = !env_set(REDIS_URL_VAR);

    let mut start = tokio::task::spawn_blocking(move || start_services(need_pg, need_redis));
    let started = tokio::select! {
        res = &mut start => res,
        sig = signals.recv() => {
            eprintln!("forze-services: {sig} during startup; tearing down");
            // Wait for the start to finish, then drop whatever came up.
            if let Ok(Ok(services)) = start.await {
                teardown(services);
            }
            return 128 + sig as i32;
        }
    };
    let services = match started {
        Ok(Ok(s)) => s,
        Ok(Err(msg)) => {
            eprintln!("forze-services: {msg}");
            return 1;
        }
        Err(e) => {
            eprintln!("forze-services: startup task failed: {e}");
            return 1;
        }
    };

    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]);
    if let Some(pg) = &services.postgres {
        eprintln!("forze-services: ephemeral postgres at {}", pg.url());
        cmd.env(POSTGRES_URL_VAR, pg.url());
    }
    if let Some(redis) = &services.redis {
        eprintln!("forze-services: ephemeral redis at {}", redis.url());
        cmd.env(REDIS_URL_VAR, redis.url());
    }

    let code = match cmd.spawn() {
        Err(e) => {
            eprintln!(
                "forze-services: cannot run {}: {e}",
                args[0].to_string_lossy()
            );
            127
        }
        Ok(mut child) => {
            let status = tokio::select! {
                status = child.wait() => status,
                sig = signals.recv() => {
                    forward(&child, sig);
                    wait_after_signal(&mut child, &mut signals).await
                }
            };
            match status {
                Ok(status) => exit_code(status),
                Err(e) => {
                    eprintln!("forze-services: waiting for the command failed: {e}");
                    1
                }
            }
        }
    };
    let _ = tokio::task::spawn_blocking(move || teardown(services)).await;
    code
}

/// After a forwarded signal: forward further signals, SIGKILL the command after the grace period.
async fn wait_after_signal(
    child: &mut Child,
    signals: &mut Signals,
) -> std::io::Result<ExitStatus> {
    let grace = tokio::time::sleep(CHILD_GRACE);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            status = child.wait() => return status,
            sig = signals.recv() => forward(child, sig),
            _ = &mut grace => {
                eprintln!("forze-services: the command did not exit within {CHILD_GRACE:?}; killing it");
                let _ = child.start_kill();
                return child.wait().await;
            }
        }
    }
}
