//! core/v1 Events, with the count/lastTimestamp aggregation real
//! components do for repeated events.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::store::{Store, UpdateMode, res};
use crate::util::{self, str_at};

#[derive(Default)]
pub(crate) struct Recorder {
    /// (involved uid, reason, message) -> event name, to aggregate repeats.
    seen: HashMap<(String, String, String), (String, String)>,
}

impl Recorder {
    /// Record an event about `obj` (a full object with kind/apiVersion).
    pub(crate) fn record(
        &mut self,
        store: &Store,
        obj: &Value,
        etype: &str,
        reason: &str,
        message: &str,
        component: &str,
    ) {
        let meta = &obj["metadata"];
        let uid = str_at(meta, &["uid"]).to_string();
        let ns = {
            let n = str_at(meta, &["namespace"]);
            if n.is_empty() {
                "default".to_string()
            } else {
                n.to_string()
            }
        };
        let k = (uid.clone(), reason.to_string(), message.to_string());
        let now = util::now_ts();
        let events = res("events");
        if let Some((ens, ename)) = self.seen.get(&k)
            && let Some(mut ev) = store.get_value(events, ens, ename)
        {
            ev["count"] = json!(ev["count"].as_i64().unwrap_or(1) + 1);
            ev["lastTimestamp"] = json!(now);
            let _ = store.update(events, ev, UpdateMode::Raw, false);
            return;
        }
        let name = format!(
            "{}.{}",
            str_at(meta, &["name"]),
            util::global_rng(|r| r.hex(16))
        );
        let ev = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": {
                "kind": obj["kind"],
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": uid,
                "apiVersion": obj["apiVersion"],
                "resourceVersion": meta["resourceVersion"],
            },
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": etype,
            "eventTime": null,
            "reportingComponent": component,
            "reportingInstance": "",
        });
        if store.create(events, ev).is_ok() {
            self.seen.insert(k, (ns, name));
        }
    }
}
