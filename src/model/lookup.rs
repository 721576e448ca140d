//! Where each instance id is asked, as plain data: the cycle's one EC2 view asks an id whose
//! account and region are known from an earlier answer only there, and an unknown id in every
//! target. Instance ids never move between accounts or regions, so the memory is only ever wrong
//! about an id EC2 no longer reports (gone for good): such an id is forgotten and asked everywhere
//! else at once, so the view sees what asking everywhere would have seen. Targets are known by
//! account and region (in organization mode the list grows and shrinks between cycles).

use std::collections::{HashMap, HashSet};

use crate::model::domain::Account;

/// One account in one region where instances are looked up.
pub type TargetKey = (Account, String);

/// The target each instance id was last found in (targets interned: an id costs a small index).
#[derive(Debug, Default, Clone)]
pub struct Whereabouts {
    keys: Vec<TargetKey>,
    index: HashMap<TargetKey, u32>,
    found: HashMap<String, u32>,
}

/// The ids to ask in each target (entry `t` holds the ids for `targets[t]`).
pub type Asks = Vec<Vec<String>>;

impl Whereabouts {
    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.found.len()
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    fn intern(&mut self, key: &TargetKey) -> u32 {
        if let Some(k) = self.index.get(key) {
            return *k;
        }
        let k = self.keys.len() as u32;
        self.keys.push(key.clone());
        self.index.insert(key.clone(), k);
        k
    }

    /// Each known id to its target only, each unknown id (or one last found in a target no longer
    /// in `targets`) to every one of `targets`.
    pub fn asks(&self, ids: &[String], targets: &[TargetKey]) -> Asks {
        let position: HashMap<u32, usize> = targets
            .iter()
            .enumerate()
            .filter_map(|(t, key)| self.index.get(key).map(|k| (*k, t)))
            .collect();
        let mut asks: Asks = vec![Vec::new(); targets.len()];
        for id in ids {
            match self.found.get(id).and_then(|k| position.get(k)) {
                Some(t) => asks[*t].push(id.clone()),
                None => asks.iter_mut().for_each(|a| a.push(id.clone())),
            }
        }
        asks
    }

    /// Learns from one round of answers to `asked` in `targets` (`found`: the index in `targets`
    /// and the id of every instance reported). Returns the ids asked in their remembered target
    /// that it did not report, forgotten now, each with the index of the target asked.
    pub fn learn(
        &mut self,
        targets: &[TargetKey],
        asked: &Asks,
        found: &[(usize, &str)],
    ) -> Vec<(String, usize)> {
        let seen: HashSet<(usize, &str)> = found.iter().copied().collect();
        let mut missed = Vec::new();
        for (t, ids) in asked.iter().enumerate() {
            let Some(k) = targets.get(t).and_then(|key| self.index.get(key)) else {
                continue;
            };
            for id in ids {
                if self.found.get(id) == Some(k) && !seen.contains(&(t, id.as_str())) {
                    missed.push((id.clone(), t));
                }
            }
        }
        for (id, _) in &missed {
            self.found.remove(id);
        }
        for (t, id) in found {
            if let Some(key) = targets.get(*t) {
                let k = self.intern(key);
                self.found.insert(id.to_string(), k);
            }
        }
        missed
    }

    /// Keeps only `ids` (the registrations of the cycle): the memory never outgrows them.
    pub fn retain(&mut self, ids: &HashSet<&str>) {
        self.found.retain(|id, _| ids.contains(id.as_str()));
    }
}

/// The second round: each missed id in every target but the one already asked.
pub fn elsewhere(missed: &[(String, usize)], targets: usize) -> Asks {
    let mut asks: Asks = vec![Vec::new(); targets];
    for (id, asked) in missed {
        for (t, a) in asks.iter_mut().enumerate() {
            if t != *asked {
                a.push(id.clone());
            }
        }
    }
    asks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("i-{i:017x}")).collect()
    }

    fn targets(n: usize) -> Vec<TargetKey> {
        (0..n)
            .map(|i| match i {
                0 => (Account::Home, "eu-west-1".to_string()),
                _ => (Account::Member(format!("{i:012}")), "eu-west-1".to_string()),
            })
            .collect()
    }

    #[test]
    fn unknown_ids_are_asked_everywhere_known_ones_only_where_they_were() {
        let (all, t) = (ids(3), targets(4));
        let mut w = Whereabouts::default();
        let first = w.asks(&all, &t);
        assert!(first.iter().all(|a| a == &all));
        // Found: id 0 in target 2, id 1 in target 3; id 2 nowhere.
        let missed = w.learn(&t, &first, &[(2, &all[0]), (3, &all[1])]);
        assert!(missed.is_empty());
        let second = w.asks(&all, &t);
        assert_eq!(second[0], vec![all[2].clone()]);
        assert_eq!(second[1], vec![all[2].clone()]);
        assert_eq!(second[2], vec![all[0].clone(), all[2].clone()]);
        assert_eq!(second[3], vec![all[1].clone(), all[2].clone()]);
    }

    #[test]
    fn an_id_missing_from_its_target_is_forgotten_and_asked_everywhere_else() {
        let (all, t) = (ids(2), targets(3));
        let mut w = Whereabouts::default();
        let first = w.asks(&all, &t);
        w.learn(&t, &first, &[(1, &all[0]), (1, &all[1])]);
        let second = w.asks(&all, &t);
        // Target 1 now reports only id 1.
        let missed = w.learn(&t, &second, &[(1, &all[1])]);
        assert_eq!(missed, vec![(all[0].clone(), 1)]);
        let again = elsewhere(&missed, 3);
        assert_eq!(
            again,
            vec![vec![all[0].clone()], vec![], vec![all[0].clone()]]
        );
        // Forgotten: the next cycle asks it everywhere.
        let third = w.asks(&all, &t);
        assert!(third.iter().all(|a| a.contains(&all[0])));
    }

    #[test]
    fn the_cost_is_per_target_not_per_service() {
        // 30 services of 4 instances each, spread over 6 targets: once learned, each target is
        // asked only its own ids (one DescribeInstances call each, at 200 ids a call).
        let (all, t) = (ids(120), targets(6));
        let mut w = Whereabouts::default();
        let first = w.asks(&all, &t);
        let found: Vec<(usize, &str)> = all
            .iter()
            .enumerate()
            .map(|(i, id)| (i % 6, id.as_str()))
            .collect();
        w.learn(&t, &first, &found);
        let second = w.asks(&all, &t);
        assert_eq!(second.iter().map(Vec::len).sum::<usize>(), 120);
        assert!(second.iter().all(|a| a.len() == 20));
    }

    #[test]
    fn targets_are_known_by_account_and_region_not_by_position() {
        // An organization listing adds an account: the list's order changes, memory still holds.
        let (all, t) = (ids(1), targets(3));
        let mut w = Whereabouts::default();
        let first = w.asks(&all, &t);
        w.learn(&t, &first, &[(2, &all[0])]);
        let grown = vec![
            t[2].clone(),
            t[0].clone(),
            targets(4)[3].clone(),
            t[1].clone(),
        ];
        assert_eq!(
            w.asks(&all, &grown),
            vec![all.clone(), vec![], vec![], vec![]]
        );
        // A target that left the list: its ids are unknown again, asked everywhere.
        let shrunk = vec![t[0].clone(), t[1].clone()];
        assert_eq!(w.asks(&all, &shrunk), vec![all.clone(), all.clone()]);
    }

    #[test]
    fn memory_keeps_only_the_cycles_ids() {
        let (all, t) = (ids(3), targets(1));
        let mut w = Whereabouts::default();
        let first = w.asks(&all, &t);
        w.learn(&t, &first, &[(0, &all[0]), (0, &all[1]), (0, &all[2])]);
        w.retain(&[all[1].as_str()].into_iter().collect());
        assert_eq!(w.len(), 1);
    }
}
