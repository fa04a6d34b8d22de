//! CPU and memory accounting (Linux `/proc`): the server's, the driver's, PostgreSQL's and the
//! machine's.

use std::process::Command;

pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// (VmRSS, VmHWM) of a process, in KiB.
pub fn memory(pid: &str) -> Option<(u64, u64)> {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |k: &str| -> Option<u64> {
        st.lines()
            .find_map(|l| l.strip_prefix(k))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some((kib("VmRSS:")?, kib("VmHWM:")?))
}

/// utime + stime of a process, in clock ticks.
pub fn proc_ticks(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Bytes a process caused to be written to storage (`write_bytes` of `/proc/PID/io`: the WAL,
/// the database pages and their checkpoints; readable by the same user or root).
pub fn proc_written(pid: &str) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))?
        .trim()
        .parse()
        .ok()
}

/// The sum of `f` over every process called `postgres`.
fn over_postgres(f: impl Fn(&str) -> Option<u64>) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| {
            let pid = e.file_name().into_string().ok()?;
            pid.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim() == "postgres").then(|| f(&pid))?
        })
        .sum()
}

/// Ticks of every process called `postgres`.
pub fn postgres_ticks() -> u64 {
    over_postgres(proc_ticks)
}

/// (busy, total) ticks of the whole machine, from /proc/stat.
pub fn machine_ticks() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle, total))
}

pub struct CpuSnapshot {
    pub server: Option<u64>,
    pub driver: Option<u64>,
    pub postgres: u64,
    pub machine: Option<(u64, u64)>,
    /// Bytes written to storage by the server, and by PostgreSQL's processes.
    pub server_written: Option<u64>,
    pub postgres_written: u64,
}

pub fn cpu_snapshot(server_pid: Option<u32>) -> CpuSnapshot {
    CpuSnapshot {
        server: server_pid.and_then(|p| proc_ticks(&p.to_string())),
        driver: proc_ticks("self"),
        postgres: postgres_ticks(),
        machine: machine_ticks(),
        server_written: server_pid.and_then(|p| proc_written(&p.to_string())),
        postgres_written: over_postgres(proc_written),
    }
}
