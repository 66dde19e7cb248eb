//! Process trees read from `/proc`: who descends from whom, and how to stop all of them.
//!
//! A child runs in a process group of its own, but a descendant can leave it (`setsid`,
//! `setpgid`) and so escape a group kill. Walking the parent chain in `/proc/*/stat` finds those
//! too, as long as they still descend from the root; stopping the tree first (SIGSTOP) keeps it
//! from forking new members while it is being killed.

use std::collections::{BTreeMap, BTreeSet};

use rustix::process::{Pid, Signal};

/// One `/proc/<pid>/stat` line, reduced to what tree walks need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
}

/// Parses a `/proc/<pid>/stat` line; the command name may itself contain spaces and parentheses.
pub fn parse_stat(line: &str) -> Option<ProcStat> {
    let pid = line.split_once(' ')?.0.parse().ok()?;
    let rest = &line[line.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    Some(ProcStat { pid, state, ppid, pgrp, session })
}

/// Every process visible in `/proc` right now.
pub fn snapshot() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            entry.file_name().to_str().is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter_map(|line| parse_stat(&line))
        .collect()
}

/// Pids that descend from `root` (excluding `root`) or belong to process group `group`.
pub fn members(procs: &[ProcStat], root: i32, group: Option<i32>) -> BTreeSet<i32> {
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut found = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            if found.insert(child) {
                stack.push(child);
            }
        }
    }
    if let Some(group) = group {
        found.extend(procs.iter().filter(|p| p.pgrp == group && p.pid != root).map(|p| p.pid));
    }
    found
}

fn signal_pid(pid: i32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pid) {
        // The process may be gone already; that is the outcome we want.
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Sends `signal` to `root`'s process group and to every descendant of `root`, leaving `root`
/// itself out when `include_root` is false. Returns the pids that were signalled.
pub fn signal_tree(root: i32, include_root: bool, signal: Signal) -> BTreeSet<i32> {
    let targets = members(&snapshot(), root, Some(root));
    for &pid in &targets {
        signal_pid(pid, signal);
    }
    if include_root {
        signal_pid(root, signal);
    }
    targets
}

/// Kills `root` (a group leader) and everything it started, including descendants that left its
/// process group: freezes the tree until it stops growing, then SIGKILLs every member.
pub fn kill_tree(root: i32) {
    let mut frozen: BTreeSet<i32> = BTreeSet::new();
    signal_pid(root, Signal::STOP);
    for _ in 0..20 {
        let now = members(&snapshot(), root, Some(root));
        let fresh: Vec<i32> = now.difference(&frozen).copied().collect();
        if fresh.is_empty() {
            break;
        }
        for &pid in &fresh {
            signal_pid(pid, Signal::STOP);
        }
        frozen.extend(fresh);
    }
    if let Some(group) = Pid::from_raw(root) {
        let _ = rustix::process::kill_process_group(group, Signal::KILL);
    }
    for &pid in &frozen {
        signal_pid(pid, Signal::KILL);
    }
    signal_pid(root, Signal::KILL);
}

/// Whether any process (other than `root`) still descends from `root` or is in its group.
pub fn has_members(root: i32) -> bool {
    members(&snapshot(), root, Some(root)).iter().any(|&pid| pid != root)
}

/// A signal from its name (`TERM`, `SIGTERM`, `sigterm`) or number (`15`).
pub fn signal_from_name(name: &str) -> Option<Signal> {
    let trimmed = name.trim();
    if let Ok(number) = trimmed.parse::<i32>() {
        return Signal::from_named_raw(number);
    }
    let upper = trimmed.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let signal = match bare {
        "HUP" => Signal::HUP,
        "INT" => Signal::INT,
        "QUIT" => Signal::QUIT,
        "ILL" => Signal::ILL,
        "TRAP" => Signal::TRAP,
        "ABRT" | "IOT" => Signal::ABORT,
        "BUS" => Signal::BUS,
        "FPE" => Signal::FPE,
        "KILL" => Signal::KILL,
        "USR1" => Signal::USR1,
        "SEGV" => Signal::SEGV,
        "USR2" => Signal::USR2,
        "PIPE" => Signal::PIPE,
        "ALRM" => Signal::ALARM,
        "TERM" => Signal::TERM,
        "STKFLT" => Signal::STKFLT,
        "CHLD" | "CLD" => Signal::CHILD,
        "CONT" => Signal::CONT,
        "STOP" => Signal::STOP,
        "TSTP" => Signal::TSTP,
        "TTIN" => Signal::TTIN,
        "TTOU" => Signal::TTOU,
        "URG" => Signal::URG,
        "XCPU" => Signal::XCPU,
        "XFSZ" => Signal::XFSZ,
        "VTALRM" => Signal::VTALARM,
        "PROF" => Signal::PROF,
        "WINCH" => Signal::WINCH,
        "IO" | "POLL" => Signal::IO,
        "PWR" => Signal::POWER,
        "SYS" => Signal::SYS,
        _ => return None,
    };
    Some(signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let stat = parse_stat("42 (a b) c)) S 7 42 40 0 -1").unwrap();
        assert_eq!(stat, ProcStat { pid: 42, state: 'S', ppid: 7, pgrp: 42, session: 40 });
    }

    #[test]
    fn members_follow_the_parent_chain_and_the_group() {
        let p = |pid, ppid, pgrp| ProcStat { pid, state: 'S', ppid, pgrp, session: 1 };
        let procs = [p(10, 1, 10), p(11, 10, 10), p(12, 11, 12), p(13, 1, 10), p(14, 1, 14)];
        let found: Vec<i32> = members(&procs, 10, Some(10)).into_iter().collect();
        assert_eq!(found, vec![11, 12, 13]);
    }

    #[test]
    fn signal_names_parse() {
        assert_eq!(signal_from_name("SIGTERM"), Some(Signal::TERM));
        assert_eq!(signal_from_name("usr1"), Some(Signal::USR1));
        assert_eq!(signal_from_name("9"), Some(Signal::KILL));
        assert_eq!(signal_from_name("NOPE"), None);
    }
}
