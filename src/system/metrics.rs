//! CPU, memory and disk figures of the sandbox, read from the cgroup the daemon runs in (so a
//! container reports its limits, not the host's) with the host's figures as a fallback.
//!
//! CPU usage needs two readings; a background task takes one every [`SAMPLE_INTERVAL`] (the
//! first half a second after start) and stops with the daemon. Until two exist, `cpuUsedPct`
//! is 0, as the contract says.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
const FIRST_SAMPLE: Duration = Duration::from_millis(500);

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SystemMetrics {
    /// RFC 3339, UTC, whole seconds.
    pub timestamp: String,
    pub timestamp_unix: i64,
    /// CPUs available: the cgroup quota rounded up, else the host's count.
    pub cpu_count: u64,
    /// CPU use as a percentage of `cpuCount` over the last sample interval.
    pub cpu_used_pct: f64,
    /// Memory in use (cgroup `memory.current`, page cache included), in bytes.
    pub mem_used: u64,
    /// Page cache within `memUsed`, in bytes.
    pub mem_cache: u64,
    /// Memory limit in bytes: the cgroup's limit, or the machine's RAM when the cgroup has
    /// none (or one larger than the machine).
    pub mem_total: u64,
    pub disk_total: u64,
    pub disk_used: u64,
    pub disk_free: u64,
}

#[derive(Debug, Clone, Copy)]
struct CpuReading {
    at: Instant,
    /// CPU time consumed so far, in microseconds.
    used_usec: u64,
}

#[derive(Debug, Default)]
struct SamplerState {
    last: Option<CpuReading>,
    used_pct: f64,
}

#[derive(Debug, Clone)]
pub struct MetricsSampler {
    state: Arc<Mutex<SamplerState>>,
}

impl MetricsSampler {
    /// Starts the sampling task; it takes its first reading [`FIRST_SAMPLE`] after start (not
    /// on the start-up path, where it would delay the first answer) and stops on `shutdown`.
    pub fn start(shutdown: CancellationToken) -> Self {
        let sampler = MetricsSampler { state: Arc::default() };
        let task_sampler = sampler.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let first = tokio::time::Instant::now() + FIRST_SAMPLE;
                let mut ticker = tokio::time::interval_at(first, SAMPLE_INTERVAL);
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = ticker.tick() => task_sampler.sample(),
                    }
                }
            });
        }
        sampler
    }

    fn sample(&self) {
        let Some(used_usec) = cpu_usage_usec() else { return };
        let reading = CpuReading { at: Instant::now(), used_usec };
        let cpus = cpu_limit();
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(last) = state.last {
            let wall = reading.at.duration_since(last.at).as_secs_f64() * 1e6;
            // A counter that went backwards (cgroup recreated) restarts the measurement at 0.
            state.used_pct = match reading.used_usec.checked_sub(last.used_usec) {
                Some(used) if wall > 0.0 && cpus > 0.0 => {
                    (used as f64 / (wall * cpus) * 100.0).clamp(0.0, 100.0)
                }
                _ => 0.0,
            };
        }
        state.last = Some(reading);
    }

    pub fn latest(&self) -> SystemMetrics {
        let now = chrono::Utc::now();
        let used_pct = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).used_pct;
        let memory = memory();
        let disk = disk("/");
        SystemMetrics {
            timestamp: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            timestamp_unix: now.timestamp(),
            cpu_count: cpu_limit().ceil() as u64,
            cpu_used_pct: (used_pct * 100.0).round() / 100.0,
            mem_used: memory.used,
            mem_cache: memory.cache,
            mem_total: memory.limit,
            disk_total: disk.total,
            disk_used: disk.used,
            disk_free: disk.free,
        }
    }
}

fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

/// The value of `key` in a `key value` per line file such as `cpu.stat` or `memory.stat`.
fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn host_cpus() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

/// CPUs the cgroup may use (quota / period), or the host's count when unlimited.
fn cpu_limit() -> f64 {
    let v2 = read_trimmed(format!("{CGROUP_ROOT}/cpu.max")).and_then(|text| {
        let (quota, period) = text.split_once(' ')?;
        Some((quota.parse::<f64>().ok()?, period.parse::<f64>().ok()?))
    });
    let v1 = || {
        let quota: f64 = read_trimmed(format!("{CGROUP_ROOT}/cpu/cpu.cfs_quota_us"))?.parse().ok()?;
        let period: f64 = read_trimmed(format!("{CGROUP_ROOT}/cpu/cpu.cfs_period_us"))?.parse().ok()?;
        (quota > 0.0).then_some((quota, period))
    };
    match v2.or_else(v1) {
        Some((quota, period)) if period > 0.0 => (quota / period).min(host_cpus()),
        _ => host_cpus(),
    }
}

/// CPU time used by the cgroup (or, outside one, the whole host), in microseconds.
fn cpu_usage_usec() -> Option<u64> {
    if let Some(text) = read_trimmed(format!("{CGROUP_ROOT}/cpu.stat")) {
        if let Some(usec) = keyed_value(&text, "usage_usec") {
            return Some(usec);
        }
    }
    if let Some(ns) = read_trimmed(format!("{CGROUP_ROOT}/cpuacct/cpuacct.usage")) {
        return ns.parse::<u64>().ok().map(|ns| ns / 1000);
    }
    host_cpu_usage_usec()
}

/// Busy time of all CPUs from `/proc/stat`, for machines without a readable cgroup.
fn host_cpu_usage_usec() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> =
        stat.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    let busy: u64 =
        fields.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum();
    let ticks_per_sec = rustix::param::clock_ticks_per_second();
    Some(busy.saturating_mul(1_000_000) / ticks_per_sec.max(1))
}

#[derive(Debug, Default)]
struct Memory {
    used: u64,
    cache: u64,
    limit: u64,
}

fn memory() -> Memory {
    let mut memory = cgroup_memory().unwrap_or_else(host_memory);
    let machine = machine_memory();
    if memory.limit == 0 || (machine > 0 && memory.limit > machine) {
        memory.limit = machine;
    }
    memory
}

/// The machine's RAM (`MemTotal`), in bytes.
fn machine_memory() -> u64 {
    let mut system = sysinfo::System::new();
    system.refresh_memory();
    system.total_memory()
}

/// Usage and limit of the cgroup the daemon runs in (v2, then v1); a limit of 0 is unlimited.
fn cgroup_memory() -> Option<Memory> {
    if let Some(used) = read_trimmed(format!("{CGROUP_ROOT}/memory.current")).and_then(|s| s.parse().ok()) {
        let stat = read_trimmed(format!("{CGROUP_ROOT}/memory.stat")).unwrap_or_default();
        let limit =
            read_trimmed(format!("{CGROUP_ROOT}/memory.max")).and_then(|s| s.parse().ok()).unwrap_or(0);
        return Some(Memory { used, cache: keyed_value(&stat, "file").unwrap_or(0), limit });
    }
    if let Some(used) =
        read_trimmed(format!("{CGROUP_ROOT}/memory/memory.usage_in_bytes")).and_then(|s| s.parse().ok())
    {
        let stat = read_trimmed(format!("{CGROUP_ROOT}/memory/memory.stat")).unwrap_or_default();
        let limit: u64 = read_trimmed(format!("{CGROUP_ROOT}/memory/memory.limit_in_bytes"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        // cgroup v1 reports "unlimited" as a huge page-aligned number.
        let limit = if limit >= (1 << 62) { 0 } else { limit };
        return Some(Memory { used, cache: keyed_value(&stat, "cache").unwrap_or(0), limit });
    }
    None
}

/// Whole-machine figures when no cgroup accounting is visible; the limit is the machine's RAM.
fn host_memory() -> Memory {
    let mut system = sysinfo::System::new();
    system.refresh_memory();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |key: &str| {
        meminfo
            .lines()
            .find_map(|line| line.strip_prefix(key)?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    let cache = kib("Cached:");
    Memory { used: system.used_memory() + cache, cache, limit: system.total_memory() }
}

#[derive(Debug, Default)]
struct Disk {
    total: u64,
    used: u64,
    free: u64,
}

fn disk(path: &str) -> Disk {
    match rustix::fs::statvfs(path) {
        Ok(st) => {
            let block = st.f_frsize.max(1);
            Disk {
                total: st.f_blocks * block,
                used: st.f_blocks.saturating_sub(st.f_bfree) * block,
                free: st.f_bavail * block,
            }
        }
        Err(err) => {
            tracing::warn!("cannot statvfs {path}: {err}");
            Disk::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_values_are_found_by_exact_key() {
        let text = "usage_usec 1234\nuser_usec 1000\nfile 77\nfile_mapped 5";
        assert_eq!(keyed_value(text, "usage_usec"), Some(1234));
        assert_eq!(keyed_value(text, "file"), Some(77));
        assert_eq!(keyed_value(text, "missing"), None);
    }

    #[test]
    fn figures_are_plausible_on_this_machine() {
        let m = MetricsSampler { state: Arc::default() }.latest();
        assert!(m.cpu_count >= 1);
        assert!(m.mem_used > 0);
        assert!(
            m.mem_total > 0 && m.mem_total <= machine_memory(),
            "{} of {}",
            m.mem_total,
            machine_memory()
        );
        assert!(m.disk_total > 0 && m.disk_used <= m.disk_total && m.disk_free <= m.disk_total);
        assert!(m.timestamp.ends_with('Z') && !m.timestamp.contains('.'));
    }
}
