//! The binary itself: `migrate`, `admin create`, `serve` with JSON logs carrying request ids,
//! and a graceful exit on SIGTERM.

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use crate::helpers::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_meetstage");

#[tokio::test]
async fn migrate_admin_create_serve_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();

    let out = Command::new(BIN)
        .args(["migrate", "--data-dir", data])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("meetstage.db").exists());

    // A new admin needs a password on stdin; a bad one is refused with a reason and exit 1.
    let mut child = Command::new(BIN)
        .args([
            "admin",
            "create",
            "--email",
            "root@example.org",
            "--password-stdin",
            "--data-dir",
            data,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Use at least 12 characters."));
    let mut child = Command::new(BIN)
        .args([
            "admin",
            "create",
            "--email",
            "root@example.org",
            "--password-stdin",
            "--data-dir",
            data,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long admin passphrase\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "root@example.org is now an administrator (new account)"
    );

    // `serve --help` documents the options and their variables.
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for opt in [
        "--base-url",
        "MEETSTAGE_BASE_URL",
        "DATABASE_URL",
        "MEETSTAGE_RATE_LIMIT_AUTH",
        "--config",
    ] {
        assert!(help.contains(opt), "help mentions {opt}");
    }

    let port = free_port();
    let mut server = Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            data,
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env(
            "MEETSTAGE_SECRET_KEY",
            "a-secret-key-that-must-never-be-logged",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server answered /readyz");
    let r = client
        .get(format!("http://127.0.0.1:{port}/login"))
        .header("x-request-id", "cli-test-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // SIGTERM: the process finishes cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(s) = server.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let exited = exited.unwrap_or_else(|| {
        server.kill().unwrap();
        panic!("no exit within 10 s of SIGTERM")
    });
    assert!(exited.success(), "exit status {exited}");
    let mut logs = String::new();
    std::io::Read::read_to_string(server.stdout.as_mut().unwrap(), &mut logs).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "JSON log lines: {logs}");
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["request_id"] == "cli-test-42"),
        "request id in logs: {logs}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "shutting down")
    );
    assert!(!logs.contains("a-secret-key-that-must-never-be-logged"));
}
