//! What the benchmarks share: removing everything a benchmark node made.

use commonscloud::engine::labels;
use std::process::Command;

/// Removes every container, volume and network of node `.0` when dropped.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_containers(&self.0);
        remove_objects(&self.0);
    }
}

pub fn docker_ids(args: &[&str]) -> Vec<String> {
    Command::new("/usr/bin/docker")
        .args(args)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub fn remove_containers(node: &str) {
    let filter = format!("label={}={node}", labels::NODE);
    let ids = docker_ids(&["ps", "-aq", "--filter", &filter]);
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids.iter().map(String::as_str));
        let _ = Command::new("/usr/bin/docker").args(&args).output();
    }
}

pub fn remove_objects(node: &str) {
    let filter = format!("label={}={node}", labels::NODE);
    for v in docker_ids(&["volume", "ls", "-q", "--filter", &filter]) {
        let _ = Command::new("/usr/bin/docker")
            .args(["volume", "rm", "-f", &v])
            .output();
    }
    for n in docker_ids(&["network", "ls", "-q", "--filter", &filter]) {
        let _ = Command::new("/usr/bin/docker")
            .args(["network", "rm", &n])
            .output();
    }
}
