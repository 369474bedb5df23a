//! Servers whose owner was SIGKILLed do not outlive it for long: the next start reaps them.
//!
//! The owner is a child process: this very test binary, run with `FORZE_TESTKIT_ORPHAN_HELPER`
//! set so that [`orphan_helper`] starts a server, prints where it is, and blocks until killed.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use forze_testkit::{EphemeralPostgres, EphemeralRedis};

const HELPER_VAR: &str = "FORZE_TESTKIT_ORPHAN_HELPER";
const HELPER_LINE: &str = "FORZE_ORPHAN";

/// Not a test of its own: with `FORZE_TESTKIT_ORPHAN_HELPER=redis|postgres` this is the owner
/// process of [`redis_orphan_of_a_sigkilled_owner_is_reaped_by_the_next_start`] and friends.
#[test]
fn orphan_helper() {
    let Ok(kind) = std::env::var(HELPER_VAR) else {
        return;
    };
    let (port, pid, dir, keep): (u16, u32, PathBuf, Box<dyn std::any::Any>) = match kind.as_str() {
        "redis" => {
            let r = EphemeralRedis::start().expect("start redis");
            (
                r.port(),
                r.pid().expect("pid"),
                r.dir().to_path_buf(),
                Box::new(r),
            )
        }
        "postgres" => {
            let p = EphemeralPostgres::start().expect("start postgres");
            (
                p.port(),
                p.pid().expect("pid"),
                p.dir().to_path_buf(),
                Box::new(p),
            )
        }
        other => panic!("unknown {HELPER_VAR}={other}"),
    };
    println!("{HELPER_LINE} {port} {pid} {}", dir.display());
    // Blocks until SIGKILLed; the watchdog ends it should the parent forget to.
    std::thread::sleep(Duration::from_secs(300));
    drop(keep);
}

struct Orphan {
    child: Child,
    port: u16,
    pid: u32,
    dir: PathBuf,
}

impl Drop for Orphan {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run the helper as a child process that owns a server of `kind`.
fn spawn_owner(kind: &str) -> Orphan {
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "orphan_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_VAR, kind)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the owner");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest prints `test orphan_helper ... ` on the same line.
            if let Some((_, rest)) = line.split_once(HELPER_LINE) {
                let _ = tx.send(rest.trim().to_owned());
            }
        }
    });
    let line = match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(line) => line,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the owner did not report its {kind} server: {e}");
        }
    };
    let mut parts = line.splitn(3, ' ');
    let port = parts.next().and_then(|p| p.parse().ok()).expect("port");
    let pid = parts.next().and_then(|p| p.parse().ok()).expect("pid");
    let dir = PathBuf::from(parts.next().expect("dir"));
    Orphan {
        child,
        port,
        pid,
        dir,
    }
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(300),
    )
    .is_ok()
}

/// Whether `pid` runs (a zombie does not: it only waits for its new parent to reap it).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let state = s.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        !matches!(state.and_then(|r| r.chars().next()), Some('Z' | 'X') | None)
    })
}

fn owner_field(dir: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("owner")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('=').map(str::to_owned))
}

/// The shape shared by the Redis and Postgres cases.
fn orphan_is_reaped(kind: &str, start_fresh: &dyn Fn()) {
    let mut orphan = spawn_owner(kind);
    let (port, pid, dir) = (orphan.port, orphan.pid, orphan.dir.clone());
    assert!(running(pid) && port_open(port) && dir.is_dir());
    assert_eq!(
        owner_field(&dir, "owner_pid"),
        Some(orphan.child.id().to_string())
    );
    assert_eq!(owner_field(&dir, "server_pid"), Some(pid.to_string()));

    // While its owner lives, a start elsewhere leaves the server alone.
    start_fresh();
    assert!(
        running(pid),
        "the {kind} server of a live owner was stopped"
    );
    assert!(port_open(port) && dir.is_dir());

    orphan.child.kill().expect("kill -9 the owner");
    orphan.child.wait().expect("wait for the owner");
    // The defect: SIGKILL runs no Drop, the server lives on. (A start in a test running in
    // parallel may already be reaping it; the dir disappears only through a reap.)
    if running(pid) {
        assert!(port_open(port), "the orphaned {kind} server still listens");
    } else {
        eprintln!("the orphaned {kind} server was already reaped by a parallel start");
    }
    assert!(dir.is_dir() || !running(pid));

    start_fresh();
    let deadline = Instant::now() + Duration::from_secs(15);
    while (running(pid) || port_open(port) || dir.exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!running(pid), "orphaned {kind} server {pid} still runs");
    assert!(!port_open(port), "port {port} of the orphan still open");
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[test]
fn redis_orphan_of_a_sigkilled_owner_is_reaped_by_the_next_start() {
    orphan_is_reaped("redis", &|| {
        let redis = EphemeralRedis::start().expect("start redis");
        redis.stop().expect("stop");
    });
}

#[test]
fn postgres_orphan_of_a_sigkilled_owner_is_reaped_by_the_next_start() {
    // Any start reaps every kind; a Redis start is the cheap one.
    orphan_is_reaped("postgres", &|| {
        let redis = EphemeralRedis::start().expect("start redis");
        redis.stop().expect("stop");
    });
}

#[test]
fn postgres_start_reaps_an_orphaned_redis() {
    orphan_is_reaped("redis", &|| {
        let pg = EphemeralPostgres::start().expect("start postgres");
        pg.stop().expect("stop");
    });
}

#[test]
fn forze_services_reaps_orphans_even_when_it_starts_no_server() {
    // A private TMPDIR (traversable by the `postgres` user): no other test reaps in there.
    let tmp = tempfile::Builder::new()
        .prefix("forze-testkit-tmp-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    // Should an assertion fail, reap before the TempDir goes (a server in a deleted dir has no
    // owner file left to be found by).
    let _reap = ReapOnDrop(tmp.path().to_path_buf());
    let mut runner = Command::new(RUNNER)
        .args([
            "--",
            "sh",
            "-c",
            "echo $$; echo \"$FORZE_TEST_POSTGRES_URL\"; echo \"$FORZE_TEST_REDIS_URL\"; \
             exec sleep 120",
        ])
        .env_remove("FORZE_TEST_POSTGRES_URL")
        .env_remove("FORZE_TEST_REDIS_URL")
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn forze-services");
    let stdout = runner.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut line = || {
        rx.recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|e| {
                let _ = runner.kill();
                panic!("forze-services did not report: {e}")
            })
    };
    let command_pid: u32 = line().parse().expect("pid of the command");
    let (pg_url, redis_url) = (line(), line());
    let port = |url: &str| -> u16 {
        let tail = url.rsplit_once("127.0.0.1:").expect("loopback url").1;
        tail.split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    };
    let (pg_port, redis_port) = (port(&pg_url), port(&redis_url));

    runner.kill().expect("kill -9 forze-services");
    runner.wait().expect("wait");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(command_pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(
        port_open(pg_port) && port_open(redis_port),
        "the servers outlive a SIGKILLed runner"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).expect("read_dir").count(), 2);

    // Both URLs configured: this run starts nothing, and still reaps.
    assert!(run_reaping_runner(tmp.path()).success());
    assert!(!port_open(pg_port), "orphaned postgres still listens");
    assert!(!port_open(redis_port), "orphaned redis still listens");
    assert_eq!(
        std::fs::read_dir(tmp.path()).expect("read_dir").count(),
        0,
        "orphaned temp dirs left behind"
    );
}

const RUNNER: &str = env!("CARGO_BIN_EXE_forze-services");

/// `forze-services -- true` with both URLs configured and `TMPDIR=tmp`: it only reaps.
fn run_reaping_runner(tmp: &Path) -> std::process::ExitStatus {
    Command::new(RUNNER)
        .args(["--", "true"])
        .env("FORZE_TEST_POSTGRES_URL", "postgres://unused")
        .env("FORZE_TEST_REDIS_URL", "redis://unused")
        .env("TMPDIR", tmp)
        .stderr(Stdio::null())
        .status()
        .expect("run forze-services")
}

struct ReapOnDrop(PathBuf);

impl Drop for ReapOnDrop {
    fn drop(&mut self) {
        run_reaping_runner(&self.0);
    }
}
