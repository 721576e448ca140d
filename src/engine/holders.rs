//! Which services hold each EC2 instance, as their last listings say: the event path's way to act on
//! a claim at once, in the services known to hold its instance, without asking every service. Kept
//! by `state` beside the listings it is built from (no I/O here).

use std::collections::{BTreeSet, HashMap};

use crate::model::plan::Registration;

/// EC2 instance id → the services whose last listing holds a registration standing for it.
#[derive(Debug, Default)]
pub struct Holders {
    by_instance: HashMap<String, BTreeSet<String>>,
    /// What each service's last listing held, so a newer listing replaces exactly that.
    by_service: HashMap<String, Vec<String>>,
}

impl Holders {
    /// A newer listing of `service_id` replaces what the older one said.
    pub fn replace(&mut self, service_id: &str, registrations: &[Registration]) {
        for id in self.by_service.remove(service_id).unwrap_or_default() {
            if let Some(services) = self.by_instance.get_mut(&id) {
                services.remove(service_id);
                if services.is_empty() {
                    self.by_instance.remove(&id);
                }
            }
        }
        let mut held: Vec<String> = registrations
            .iter()
            .map(|r| r.target().to_string())
            .collect();
        held.sort();
        held.dedup();
        for id in &held {
            self.by_instance
                .entry(id.clone())
                .or_default()
                .insert(service_id.to_string());
        }
        self.by_service.insert(service_id.to_string(), held);
    }

    /// The services known to hold `instance_id`, in a stable order.
    pub fn of(&self, instance_id: &str) -> Vec<String> {
        self.by_instance
            .get(instance_id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(instance_id: &str, ec2_id: Option<&str>) -> Registration {
        Registration {
            instance_id: instance_id.to_string(),
            ec2_id: ec2_id.map(str::to_string),
            ..Registration::default()
        }
    }

    #[test]
    fn an_instance_is_held_by_every_service_whose_last_listing_names_it() {
        let mut h = Holders::default();
        h.replace("srv-a", &[reg("i-1", None), reg("web-1", Some("i-2"))]);
        h.replace("srv-b", &[reg("i-2", None), reg("i-2b", Some("i-2"))]);
        assert_eq!(h.of("i-1"), vec!["srv-a"]);
        assert_eq!(h.of("i-2"), vec!["srv-a", "srv-b"]);
        assert!(
            h.of("web-1").is_empty(),
            "a registration stands for its EC2 instance"
        );
        assert!(h.of("i-9").is_empty());
    }

    #[test]
    fn a_newer_listing_replaces_what_the_older_one_said() {
        let mut h = Holders::default();
        h.replace("srv-a", &[reg("i-1", None), reg("i-2", None)]);
        h.replace("srv-b", &[reg("i-2", None)]);
        h.replace("srv-a", &[reg("i-3", None)]);
        assert!(h.of("i-1").is_empty());
        assert_eq!(h.of("i-2"), vec!["srv-b"]);
        assert_eq!(h.of("i-3"), vec!["srv-a"]);
        h.replace("srv-b", &[]);
        assert!(h.of("i-2").is_empty());
        assert!(h.by_instance.len() == 1 && h.by_service["srv-b"].is_empty());
    }
}
