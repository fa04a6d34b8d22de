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
    /// Ticks of each server node.
    pub servers: Vec<Option<u64>>,
    pub driver: Option<u64>,
    pub postgres: u64,
    pub machine: Option<(u64, u64)>,
    /// Bytes written to storage by each server node, and by PostgreSQL's processes.
    pub servers_written: Vec<Option<u64>>,
    pub postgres_written: u64,
}

impl CpuSnapshot {
    /// The nodes' ticks summed; none when one node's cannot be read.
    pub fn server(&self) -> Option<u64> {
        self.servers.iter().copied().sum()
    }

    pub fn server_written(&self) -> Option<u64> {
        self.servers_written.iter().copied().sum()
    }
}

/// The snapshot of the server nodes `server_pids` (a stopped one is `None`), this driver,
/// PostgreSQL and the machine.
pub fn cpu_snapshot(server_pids: &[Option<u32>]) -> CpuSnapshot {
    let of = |f: fn(&str) -> Option<u64>| -> Vec<Option<u64>> {
        server_pids
            .iter()
            .map(|p| p.and_then(|p| f(&p.to_string())))
            .collect()
    };
    CpuSnapshot {
        servers: of(proc_ticks),
        driver: proc_ticks("self"),
        postgres: postgres_ticks(),
        machine: machine_ticks(),
        servers_written: of(proc_written),
        postgres_written: over_postgres(proc_written),
    }
}
