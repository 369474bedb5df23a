//! The ephemeral servers and the `forze-services` runner leave no process and no temp dir behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use forze_testkit::{EphemeralPostgres, EphemeralRedis, RedisOptions};
use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

const RUNNER: &str = env!("CARGO_BIN_EXE_forze-services");

fn alive(pid: u32) -> bool {
    !matches!(
        signal::kill(Pid::from_raw(pid as i32), None),
        Err(Errno::ESRCH)
    )
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(300),
    )
    .is_ok()
}

fn redis_reply(port: u16, cmd: &[u8]) -> String {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect to redis");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(cmd).expect("write");
    let mut buf = [0u8; 128];
    let n = s.read(&mut buf).expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn port_of(url: &str) -> u16 {
    let after_host = url.rsplit_once("127.0.0.1:").expect("loopback url").1;
    after_host
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in url")
}

/// A private TMPDIR that the `postgres` user can traverse.
fn private_tmpdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("forze-testkit-tmp-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).expect("read_dir").next().is_none()
}

#[test]
fn postgres_stop_leaves_no_process_and_no_dir() {
    let pg = EphemeralPostgres::start().expect("start postgres");
    let pid = pg.pid().expect("running");
    let port = pg.port();
    let dir: PathBuf = pg.dir().to_path_buf();
    assert!(alive(pid));
    assert!(port_open(port));
    assert!(dir.join("data").join("PG_VERSION").is_file());
    assert!(pg.url().ends_with(&format!(":{port}/postgres")));

    pg.stop().expect("stop");
    assert!(!alive(pid), "postmaster {pid} still alive");
    assert!(!port_open(port), "port {port} still open");
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[test]
fn postgres_drop_tears_down_and_kill_restart_keeps_port() {
    let mut pg = EphemeralPostgres::start().expect("start postgres");
    let port = pg.port();
    let dir = pg.dir().to_path_buf();
    let first = pg.pid().expect("running");

    pg.kill().expect("kill");
    assert!(!alive(first));
    assert!(!port_open(port));
    assert!(!pg.is_running());
    assert!(dir.exists(), "kill keeps the data for a restart");

    pg.restart().expect("restart");
    assert_eq!(pg.port(), port);
    assert!(port_open(port));
    let second = pg.pid().expect("running again");

    drop(pg);
    assert!(!alive(second));
    assert!(!port_open(port));
    assert!(!dir.exists());
}

#[test]
fn redis_stop_leaves_no_process_and_no_dir() {
    let redis = EphemeralRedis::start().expect("start redis");
    let pid = redis.pid().expect("running");
    let port = redis.port();
    let dir = redis.dir().to_path_buf();
    assert_eq!(redis_reply(port, b"*1\r\n$4\r\nPING\r\n"), "+PONG\r\n");
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}"));

    redis.stop().expect("stop");
    assert!(!alive(pid));
    assert!(!port_open(port));
    assert!(!dir.exists());
}

#[test]
fn redis_kill_restart_same_port_empty_and_drop_tears_down() {
    let mut redis = EphemeralRedis::start().expect("start redis");
    let port = redis.port();
    let dir = redis.dir().to_path_buf();
    let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
    assert_eq!(redis_reply(port, set), "+OK\r\n");
    let first = redis.pid().expect("running");

    redis.kill().expect("kill");
    assert!(!alive(first));
    assert!(!port_open(port));

    redis.restart().expect("restart");
    assert_eq!(redis.port(), port);
    let get = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    assert_eq!(
        redis_reply(port, get),
        "$-1\r\n",
        "restarted server is empty"
    );
    let second = redis.pid().expect("running");

    drop(redis);
    assert!(!alive(second));
    assert!(!port_open(port));
    assert!(!dir.exists());
}

#[test]
fn redis_password_and_extra_config_lines() {
    let redis = EphemeralRedis::start_with(
        RedisOptions::new()
            .password("pw")
            .config_line(r#"rename-command FLUSHALL """#),
    )
    .expect("start redis");
    let port = redis.port();
    assert_eq!(redis.url(), format!("redis://:pw@127.0.0.1:{port}"));
    assert!(redis_reply(port, b"*1\r\n$4\r\nPING\r\n").starts_with("-NOAUTH"));
    let auth_flush = b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*1\r\n$8\r\nFLUSHALL\r\n";
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(auth_flush).expect("write");
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).expect("auth reply");
    assert_eq!(line, "+OK\r\n");
    line.clear();
    reader.read_line(&mut line).expect("flushall reply");
    assert!(line.starts_with("-ERR unknown command"), "{line}");
}

#[test]
fn runner_uses_configured_urls_and_propagates_exit_code() {
    let out = Command::new(RUNNER)
        .args([
            "--",
            "sh",
            "-c",
            "echo \"$FORZE_TEST_POSTGRES_URL|$FORZE_TEST_REDIS_URL\"; exit 3",
        ])
        .env("FORZE_TEST_POSTGRES_URL", "postgres://given/pg")
        .env("FORZE_TEST_REDIS_URL", "redis://given")
        .output()
        .expect("run forze-services");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "postgres://given/pg|redis://given"
    );
}

#[test]
fn runner_without_command_is_a_usage_error() {
    let out = Command::new(RUNNER).output().expect("run forze-services");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}

#[test]
fn runner_starts_servers_and_tears_them_down_when_the_command_fails() {
    let tmp = private_tmpdir();
    let script = "echo \"$FORZE_TEST_POSTGRES_URL\"; echo \"$FORZE_TEST_REDIS_URL\"; \
                  psql -XtAq \"$FORZE_TEST_POSTGRES_URL\" -c 'select 40 + 2' || exit 90; exit 5";
    let out = Command::new(RUNNER)
        .args(["--", "sh", "-c", script])
        .env_remove("FORZE_TEST_POSTGRES_URL")
        .env_remove("FORZE_TEST_REDIS_URL")
        .env("TMPDIR", tmp.path())
        .output()
        .expect("run forze-services");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(5),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("postgres://"), "{stdout}");
    assert!(lines[1].starts_with("redis://"), "{stdout}");
    assert_eq!(lines[2], "42");
    assert!(!port_open(port_of(lines[0])));
    assert!(!port_open(port_of(lines[1])));
    assert!(is_empty_dir(tmp.path()), "temp dirs left behind");
}

#[test]
fn runner_forwards_sigterm_and_tears_down() {
    let tmp = private_tmpdir();
    let mut child = Command::new(RUNNER)
        .args([
            "--",
            "sh",
            "-c",
            "echo \"$FORZE_TEST_POSTGRES_URL\"; echo \"$FORZE_TEST_REDIS_URL\"; exec sleep 120",
        ])
        .env_remove("FORZE_TEST_POSTGRES_URL")
        .env_remove("FORZE_TEST_REDIS_URL")
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn forze-services");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (mut pg_url, mut redis_url) = (String::new(), String::new());
    stdout.read_line(&mut pg_url).expect("pg url");
    stdout.read_line(&mut redis_url).expect("redis url");
    let (pg_port, redis_port) = (port_of(&pg_url), port_of(&redis_url));
    assert!(port_open(pg_port) && port_open(redis_port));

    signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("sigterm");
    // Watchdog: the runner must exit promptly (the command is `sleep 120`).
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("forze-services did not exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status.code(),
        Some(128 + 15),
        "sleep died of the forwarded SIGTERM"
    );
    assert!(!port_open(pg_port));
    assert!(!port_open(redis_port));
    assert!(is_empty_dir(tmp.path()), "temp dirs left behind");
}
