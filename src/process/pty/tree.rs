//! Killing a terminal's whole process tree.
//!
//! An interactive shell puts each job in a process group of its own, so killing the shell's
//! group misses them. The tree is found from `/proc`: every process whose parent chain reaches
//! the shell, plus every process still in the shell's session (orphans reparented to init).

use std::collections::{BTreeMap, BTreeSet};

use rustix::process::{Pid, Signal, kill_process};

/// `(pid, ppid, session)` of every live process.
fn processes() -> Vec<(u32, u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name may contain spaces and parentheses; fields resume after the last ')'.
            let rest = &stat[stat.rfind(')')? + 2..];
            let mut fields = rest.split(' ');
            let _state = fields.next()?;
            let ppid = fields.next()?.parse().ok()?;
            let _pgrp = fields.next()?;
            let session = fields.next()?.parse().ok()?;
            Some((pid, ppid, session))
        })
        .collect()
}

/// The descendants of `root` (and members of its session), deepest first, then `root`.
pub fn tree(root: u32) -> Vec<u32> {
    let procs = processes();
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &(pid, ppid, _) in &procs {
        children.entry(ppid).or_default().push(pid);
    }
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![(root, 0usize)];
    let mut depth_of = Vec::new();
    while let Some((pid, depth)) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        depth_of.push((depth, pid));
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or_default() {
            stack.push((child, depth + 1));
        }
    }
    for &(pid, _, session) in &procs {
        if session == root && seen.insert(pid) {
            depth_of.push((usize::MAX, pid));
        }
    }
    depth_of.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    order.extend(depth_of.into_iter().map(|(_, pid)| pid).filter(|&pid| pid != root));
    order.push(root);
    order
}

/// SIGKILLs the tree rooted at `root`, deepest first.
pub fn kill_tree(root: u32) {
    for pid in tree(root) {
        if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
            let _ = kill_process(pid, Signal::KILL);
        }
    }
}
