//! What the binary's tests share: running `tianping`, starting `tianping serve`, reading answers.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

pub fn tianping() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tianping"));
    c.env("TIANPING_LOG", "warn");
    c
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Spawn `serve` (a `tianping serve …` command) and wait until it listens; returns the process,
/// its base URL and its metrics URL, if it serves metrics.
pub fn spawn_server(serve: &mut Command) -> (Child, String, Option<String>) {
    let mut child = serve
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut metrics_url = None;
    let base = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.strip_prefix("metrics on ") {
                    metrics_url = Some(url.to_owned());
                }
                if let Some(addr) = line.strip_prefix("listening on ") {
                    break addr.to_owned();
                }
            }
            _ => {
                let mut err = String::new();
                child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                panic!("server did not start: {err}");
            }
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, base, metrics_url)
}

pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: sending a signal to a child process we own.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap()
}

pub async fn status_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}
