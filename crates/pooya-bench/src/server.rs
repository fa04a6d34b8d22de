//! The `pooya serve` process the load drives: found beside this tool, started on a temporary data
//! directory with the test-only fake clock, stopped gracefully; and the role keys it made at its
//! first start.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pooya_bench::Res;

pub struct Server {
    pub child: Option<Child>,
    pub url: String,
    pub log: PathBuf,
    /// Its data directory: the first node's holds `bootstrap-keys.json` and the SMS outbox.
    pub data: PathBuf,
}

impl Server {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGTERM, then wait (up to 15 s) for the graceful stop; SIGKILL after that.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match c.try_wait() {
                Ok(Some(st)) => return Some(st),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    eprintln!("server did not stop within 15 s of SIGTERM: killing it");
                    let _ = c.kill();
                    return c.wait().ok();
                }
            }
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `target/release/pooya`, beside this tool's own `target/release/pooya-bench`.
pub fn server_binary() -> Res<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = exe
        .parent()
        .ok_or("cannot find the target directory from this executable's path")?;
    let bin = dir.join(format!("pooya{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        return Err(format!(
            "{} is missing: build the server first with `cargo build --release -p pooya` \
             (with the same CARGO_TARGET_DIR as this tool)",
            bin.display()
        ));
    }
    if dir.file_name().is_some_and(|n| n != "release") {
        eprintln!(
            "warning: {} is not a release build; figures of a debug build mean little",
            bin.display()
        );
    }
    Ok(bin)
}

/// Starts node `node` (from 0) on `work/pooya.toml`, with a data directory and a log of its own
/// in `work` (`data` and `server.log` for the first, `data-2`, `server-2.log` … for the others).
pub fn start_server(bin: &Path, work: &Path, node: usize, db_url: Option<&str>) -> Res<Server> {
    let cfg = work.join("pooya.toml");
    let (data, log) = match node {
        0 => (work.join("data"), work.join("server.log")),
        n => (
            work.join(format!("data-{}", n + 1)),
            work.join(format!("server-{}.log", n + 1)),
        ),
    };
    let logf = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--config")
        .arg(&cfg)
        .arg("--unsafe-fake-clock")
        .env_remove("POOYA_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(logf));
    if let Some(u) = db_url {
        cmd.arg("--database-url").arg(u);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut server = Server {
        child: Some(child),
        url: String::new(),
        log,
        data,
    };
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    let n = reader
        .read_line(&mut line)
        .map_err(|e| format!("reading the server's first line: {e}"))?;
    let Some(url) = line.trim().strip_prefix("pooya listening on ") else {
        return Err(format!(
            "the server's first line was {:?} ({n} bytes), not `pooya listening on …`; its log:\n{}",
            line,
            server.log_tail(20)
        ));
    };
    server.url = url.to_owned();
    // Keep reading whatever else it prints, so it never writes into a closed pipe.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    Ok(server)
}

pub struct Keys {
    pub admin: String,
    pub branch: String,
    pub atm: String,
    pub switch: String,
}
