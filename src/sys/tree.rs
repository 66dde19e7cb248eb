//! Process trees read from `/proc`: the one walker every teardown uses.
//!
//! A tree is everything one owned child started. Three facts find its members, because each
//! alone can be escaped:
//! - the parent chain from the child (a process that leaves the child's process group or
//!   session with `setpgid`/`setsid` still has its parent);
//! - the child's process group (members whose parent already died);
//! - the owner tag: every owned child starts with `TOOLBOXD_OWNER=<tag>` in its environment,
//!   which its descendants inherit. A double fork orphans a process, and the daemon, being a
//!   child subreaper (`sys::reaper`), adopts it; only the tag, read from
//!   `/proc/<pid>/environ`, still says which tree it came from.
//!
//! Only processes that descend from the daemon are ever considered, so a tag copied by a
//! process elsewhere on the machine cannot make the daemon kill it. A process that both clears
//! its environment and double-forks escapes attribution; it stays the daemon's descendant and
//! dies at daemon shutdown ([`kill_descendants`]).
//!
//! Killing freezes the tree first (SIGSTOP, repeated until no new member appears) so it cannot
//! fork new members while it is being killed, then SIGKILLs every member.

use std::collections::{BTreeMap, BTreeSet};

use rustix::process::{Pid, Signal};

/// The environment variable that tags every process of one owned tree.
pub const OWNER_TAG: &str = "TOOLBOXD_OWNER";

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

/// One process's stat, if it still exists.
pub fn stat(pid: i32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process visible in `/proc` right now.
pub fn snapshot() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(stat)
        .collect()
}

fn children_of(procs: &[ProcStat]) -> BTreeMap<i32, Vec<i32>> {
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    children
}

/// `roots` and every process that descends from one of them.
fn descend(children: &BTreeMap<i32, Vec<i32>>, roots: &[i32]) -> BTreeSet<i32> {
    let mut found: BTreeSet<i32> = roots.iter().copied().collect();
    let mut stack = roots.to_vec();
    while let Some(pid) = stack.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            if found.insert(child) {
                stack.push(child);
            }
        }
    }
    found
}

/// Which tree: the child at its root (while it is not yet reaped; its pid could be reused
/// after that) and its owner tag.
#[derive(Debug, Clone, Copy)]
pub struct TreeId<'a> {
    pub root: Option<i32>,
    pub tag: &'a str,
}

/// Members of tree `id` among `procs`, the root included. `daemon` is the process whose
/// descendants may be members; `tagged` says whether a pid carries the tree's tag.
pub fn members(
    procs: &[ProcStat],
    daemon: i32,
    id: TreeId<'_>,
    tagged: impl Fn(i32) -> bool,
) -> BTreeSet<i32> {
    let children = children_of(procs);
    let mut ours = descend(&children, &[daemon]);
    ours.remove(&daemon);
    let mut roots: Vec<i32> = Vec::new();
    if let Some(root) = id.root {
        roots.push(root);
        roots.extend(procs.iter().filter(|p| p.pgrp == root && ours.contains(&p.pid)).map(|p| p.pid));
    }
    // Zombies have no environment left to read; they are reaped, not killed.
    let live = |pid: &i32| procs.iter().any(|p| p.pid == *pid && p.state != 'Z');
    roots.extend(ours.iter().filter(|pid| live(pid) && tagged(**pid)).copied());
    let mut found = descend(&children, &roots);
    found.retain(|pid| ours.contains(pid));
    found
}

/// Whether `/proc/<pid>/environ` holds exactly `TOOLBOXD_OWNER=<tag>`.
fn has_tag(pid: i32, entry: &[u8]) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|environ| environ.split(|&b| b == 0).any(|var| var == entry))
}

/// Live members of tree `id` right now.
pub fn live_members(id: TreeId<'_>) -> BTreeSet<i32> {
    let entry = format!("{OWNER_TAG}={}", id.tag).into_bytes();
    let daemon = rustix::process::getpid().as_raw_nonzero().get();
    let procs = snapshot();
    let mut found = members(&procs, daemon, id, |pid| has_tag(pid, &entry));
    found.retain(|pid| procs.iter().any(|p| p.pid == *pid && p.state != 'Z'));
    found
}

fn signal_pid(pid: i32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(pid) {
        // The process may be gone already; that is the outcome we want.
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Sends `signal` to every live member of tree `id`, the root only when `include_root`.
/// Returns the pids that were signalled.
pub fn signal_tree(id: TreeId<'_>, include_root: bool, signal: Signal) -> BTreeSet<i32> {
    let mut targets = live_members(id);
    if !include_root {
        if let Some(root) = id.root {
            targets.remove(&root);
        }
    }
    for &pid in &targets {
        signal_pid(pid, signal);
    }
    targets
}

/// How long a kill waits for the killed processes to be gone.
const DEATH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether `pid` is gone or a zombie (dead, waiting to be reaped).
fn is_dead(pid: i32) -> bool {
    stat(pid).is_none_or(|p| p.state == 'Z' || p.state == 'X')
}

/// Freezes `find()`'s members until no new one appears, then SIGKILLs all of them and waits
/// (at most [`DEATH_WAIT`]) until they are dead: SIGKILL is delivered asynchronously.
fn freeze_and_kill(find: impl Fn() -> BTreeSet<i32>) {
    let mut frozen: BTreeSet<i32> = BTreeSet::new();
    for _ in 0..50 {
        let fresh: Vec<i32> = find().difference(&frozen).copied().collect();
        if fresh.is_empty() {
            break;
        }
        for &pid in &fresh {
            signal_pid(pid, Signal::STOP);
        }
        frozen.extend(fresh);
    }
    for &pid in &frozen {
        signal_pid(pid, Signal::KILL);
    }
    let until = std::time::Instant::now() + DEATH_WAIT;
    while !frozen.iter().all(|&pid| is_dead(pid)) && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Kills every member of tree `id`, including those that left its group, its session or
/// (through a double fork) its parent chain.
pub fn kill_tree(id: TreeId<'_>) {
    freeze_and_kill(|| live_members(id));
}

/// Kills every descendant of the daemon (daemon shutdown: whatever escaped attribution too).
pub fn kill_descendants() {
    let daemon = rustix::process::getpid().as_raw_nonzero().get();
    freeze_and_kill(|| {
        let procs = snapshot();
        let mut ours = descend(&children_of(&procs), &[daemon]);
        ours.remove(&daemon);
        ours.retain(|pid| procs.iter().any(|p| p.pid == *pid && p.state != 'Z'));
        ours
    });
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

    fn p(pid: i32, ppid: i32, pgrp: i32) -> ProcStat {
        ProcStat { pid, state: 'S', ppid, pgrp, session: 1 }
    }

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let stat = parse_stat("42 (a b) c)) S 7 42 40 0 -1").unwrap();
        assert_eq!(stat, ProcStat { pid: 42, state: 'S', ppid: 7, pgrp: 42, session: 40 });
    }

    #[test]
    fn members_follow_the_parent_chain_and_the_group() {
        // 5 is the daemon; 10 the root; 12 left the group; 13 kept the group but lost its
        // parent; 14 is another tree; 20 is not the daemon's at all.
        let procs = [
            p(5, 1, 5),
            p(10, 5, 10),
            p(11, 10, 10),
            p(12, 11, 12),
            p(13, 5, 10),
            p(14, 5, 14),
            p(20, 1, 10),
        ];
        let found: Vec<i32> =
            members(&procs, 5, TreeId { root: Some(10), tag: "t" }, |_| false).into_iter().collect();
        assert_eq!(found, vec![10, 11, 12, 13]);
    }

    #[test]
    fn tagged_orphans_and_their_children_are_members_after_the_root_is_gone() {
        // 30 was double-forked away from a reaped root and adopted by the daemon (5); 31 is its
        // child; 40 carries the tag but does not descend from the daemon.
        let procs = [p(5, 1, 5), p(30, 5, 30), p(31, 30, 30), p(32, 5, 32), p(40, 1, 40)];
        let tagged = |pid| pid == 30 || pid == 40;
        let found: Vec<i32> =
            members(&procs, 5, TreeId { root: None, tag: "t" }, tagged).into_iter().collect();
        assert_eq!(found, vec![30, 31]);
    }

    #[test]
    fn signal_names_parse() {
        assert_eq!(signal_from_name("SIGTERM"), Some(Signal::TERM));
        assert_eq!(signal_from_name("usr1"), Some(Signal::USR1));
        assert_eq!(signal_from_name("9"), Some(Signal::KILL));
        assert_eq!(signal_from_name("NOPE"), None);
    }
}
