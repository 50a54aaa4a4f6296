//! Warning events joined to pods by UID, from one cluster-wide paged list,
//! so the number of requests does not grow with the number of stuck pods.
//! When events have expired, the pod's own conditions and container
//! `lastState` (gathered by `classify`) are the evidence.

use std::collections::HashMap;

use super::classify::Category;
use super::lean::{Event, Time};
use super::report::{Cause, Evidence, StuckPod};

/// Longest event message kept: enough for any kubelet message we act on,
/// bounded so that a cluster full of noisy events cannot blow up memory.
const MAX_MESSAGE: usize = 600;
/// Distinct kinds of event kept per pod.
const MAX_NOTES: usize = 8;
/// Events of one reason whose messages start alike are one kind: the kubelet
/// uses `Failed` both for "Failed to pull image …" and "Error: ErrImagePull",
/// while repeated sandbox failures differ only in a sandbox id further on.
const KIND_PREFIX: usize = 20;

#[derive(Debug, Clone)]
struct Note {
    reason: String,
    message: String,
    count: i64,
    last_seen: Option<Time>,
}

/// Warning events about pods, by pod UID: for each reason, the latest message.
#[derive(Debug, Default)]
pub(crate) struct Events {
    by_uid: HashMap<String, Vec<Note>>,
    /// False when the events could not be listed (e.g. no permission).
    pub listed: bool,
}

impl Events {
    pub(crate) fn add(&mut self, e: Event) {
        if e.involved_object.kind != "Pod" || e.involved_object.uid.is_empty() {
            return;
        }
        let last_seen = e.last_seen();
        let count = e.times();
        let reason = e.reason.unwrap_or_default();
        let mut message = e.message.unwrap_or_default();
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let notes = self.by_uid.entry(e.involved_object.uid).or_default();
        let kind = |m: &str| m.chars().take(KIND_PREFIX).collect::<String>();
        let this_kind = kind(&message);
        if let Some(n) = notes
            .iter_mut()
            .find(|n| n.reason == reason && kind(&n.message) == this_kind)
        {
            n.count += count;
            if last_seen >= n.last_seen {
                n.last_seen = last_seen;
                n.message = message;
            }
        } else if notes.len() < MAX_NOTES {
            notes.push(Note {
                reason,
                message,
                count,
                last_seen,
            });
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_uid.len()
    }

    /// Forgets everything (the list restarted after an expired continue token).
    pub(crate) fn clear(&mut self) {
        self.by_uid.clear();
    }

    /// Puts the pod's events first in its evidence and sharpens its cause
    /// with what they say.
    pub(crate) fn attach(&self, pod: &mut StuckPod) {
        let Some(notes) = self.by_uid.get(&pod.uid) else {
            return;
        };
        let mut notes = notes.clone();
        notes.sort_by_key(|n| std::cmp::Reverse(n.last_seen));
        let events: Vec<Evidence> = notes
            .iter()
            .map(|n| Evidence {
                source: "event",
                reason: n.reason.clone(),
                message: n.message.clone(),
                count: Some(n.count),
                last_seen: n.last_seen,
            })
            .collect();
        refine(pod, &events);
        pod.evidence.splice(0..0, events);
    }
}

/// What events add to a diagnosis made from the pod alone.
pub(crate) fn refine(pod: &mut StuckPod, events: &[Evidence]) {
    let find = |reason: &str| events.iter().find(|e| e.reason == reason);
    let find_msg = |needle: &str| events.iter().find(|e| e.message.contains(needle));
    match pod.category {
        Category::ContainerCreating => {
            if let Some(e) = find("FailedCreatePodSandBox") {
                pod.cause = Cause::Sandbox;
                pod.reason = e.reason.clone();
                pod.message = format!(
                    "sandbox creation is failing: the node's container runtime or CNI is broken ({})",
                    e.message
                );
            } else if let Some(e) = find("FailedMount").or(find("FailedAttachVolume")) {
                let volume = quoted_after(&e.message, "volume \"").unwrap_or_default();
                pod.cause = Cause::Mount { volume };
                pod.reason = e.reason.clone();
                pod.message = e.message.clone();
            }
        }
        Category::Unschedulable => {
            if let Some(e) = find("FailedScheduling")
                && (pod.message.is_empty() || pod.message.starts_with("the scheduler has not"))
            {
                pod.message = e.message.clone();
            }
        }
        Category::CrashLoop | Category::Restarting => {
            let probe = find_msg("Liveness probe failed")
                .or(find_msg("Startup probe failed"))
                .or(find_msg("failed liveness probe"))
                .or(find_msg("failed startup probe"));
            if let Some(e) = probe
                && pod.cause != Cause::OomKilled
            {
                pod.cause = Cause::ProbeKilled;
                pod.message = format!(
                    "container `{}` is killed by its liveness probe: {}",
                    pod.container.as_deref().unwrap_or("?"),
                    e.message
                );
            }
        }
        Category::ImagePull => {
            if let Some(e) = events
                .iter()
                .find(|e| e.message.starts_with("Failed to pull image"))
            {
                pod.message = e.message.clone();
            }
        }
        Category::NotReady => {
            if let Some(e) = find_msg("Readiness probe failed") {
                pod.message = format!("{}: {}", pod.message, e.message);
            }
        }
        _ => {}
    }
}

/// The text between `prefix` and the next double quote.
fn quoted_after(text: &str, prefix: &str) -> Option<String> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    Some(rest.split('"').next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(uid: &str, reason: &str, message: &str, at: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "involvedObject": {"kind": "Pod", "uid": uid},
            "reason": reason, "message": message, "count": 2, "lastTimestamp": at, "type": "Warning"
        }))
        .unwrap()
    }

    #[test]
    fn keeps_the_latest_message_per_reason_and_sums_counts() {
        let mut ev = Events::default();
        ev.add(event(
            "u1",
            "FailedCreatePodSandBox",
            "Failed to create pod sandbox: id 1",
            "2024-01-01T00:00:00Z",
        ));
        ev.add(event(
            "u1",
            "FailedCreatePodSandBox",
            "Failed to create pod sandbox: id 2",
            "2024-01-01T00:05:00Z",
        ));
        ev.add(event("u2", "BackOff", "x", "2024-01-01T00:05:00Z"));
        ev.add(event(
            "u2",
            "Failed",
            "Failed to pull image \"x\": not found",
            "2024-01-01T00:05:00Z",
        ));
        ev.add(event(
            "u2",
            "Failed",
            "Error: ErrImagePull",
            "2024-01-01T00:05:00Z",
        ));
        assert_eq!(ev.by_uid["u2"].len(), 3, "one reason, two kinds of message");
        let mut other = event("u3", "X", "y", "2024-01-01T00:05:00Z");
        other.involved_object.kind = "Node".into();
        ev.add(other);
        assert_eq!(ev.len(), 2);
        let notes = &ev.by_uid["u1"];
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].message, "Failed to create pod sandbox: id 2");
        assert_eq!(notes[0].count, 4);
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let mut ev = Events::default();
        ev.add(event("u", "R", &"é".repeat(1000), "2024-01-01T00:00:00Z"));
        let m = &ev.by_uid["u"][0].message;
        assert!(m.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(m.ends_with('…'));
    }

    #[test]
    fn volume_name_is_read_from_mount_messages() {
        assert_eq!(
            quoted_after(
                r#"MountVolume.SetUp failed for volume "certs" : secret "certs" not found"#,
                "volume \""
            ),
            Some("certs".into())
        );
    }
}

#[cfg(test)]
mod refine_tests {
    use super::*;
    use crate::pods::lean::Pod;
    use crate::pods::{Thresholds, classify, health::Nodes};

    #[test]
    fn events_name_the_sandbox_failure_and_come_first() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "creationTimestamp": "2024-06-01T11:00:00Z"},
            "spec": {"nodeName": "n1", "containers": [{"name": "app"}]},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}]}
        }))
        .unwrap();
        let now = "2024-06-01T12:00:00Z".parse().unwrap();
        let mut stuck =
            classify::classify(&pod, &Nodes::unknown(), &Thresholds::default(), now).unwrap();
        assert_eq!(stuck.cause, Cause::NotStarted);
        let mut events = Events::default();
        events.add(serde_json::from_value(serde_json::json!({
            "involvedObject": {"kind": "Pod", "uid": "u1"}, "reason": "FailedCreatePodSandBox",
            "message": "Failed to create pod sandbox: rpc error: code = DeadlineExceeded desc = context deadline exceeded",
            "count": 40, "lastTimestamp": "2024-06-01T11:59:00Z"})).unwrap());
        events.attach(&mut stuck);
        assert_eq!(stuck.cause, Cause::Sandbox);
        assert_eq!(stuck.reason, "FailedCreatePodSandBox");
        assert!(stuck.message.contains("context deadline exceeded"));
        assert_eq!(stuck.evidence[0].source, "event");
        assert_eq!(stuck.evidence[0].count, Some(40));
    }
}
