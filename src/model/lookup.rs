//! Where each instance id is asked, as plain data: the cycle's one EC2 view asks an id whose
//! account and region are known from an earlier answer only there, and an unknown id in every
//! target. Instance ids never move between accounts or regions, so the memory is only ever wrong
//! about an id EC2 no longer reports (gone for good): such an id is forgotten and asked everywhere
//! else at once, so the view sees what asking everywhere would have seen. Targets are indices into
//! the process's fixed list of (account, region) targets.

use std::collections::{HashMap, HashSet};

/// The target each instance id was last found in.
#[derive(Debug, Default, Clone)]
pub struct Whereabouts {
    found: HashMap<String, usize>,
}

/// The ids to ask in each target (index `t` of the list holds target `t`'s ids).
pub type Asks = Vec<Vec<String>>;

impl Whereabouts {
    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.found.len()
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Each known id to its target only, each unknown id to every one of `targets` targets.
    pub fn asks(&self, ids: &[String], targets: usize) -> Asks {
        let mut asks: Asks = vec![Vec::new(); targets];
        for id in ids {
            match self.found.get(id).filter(|t| **t < targets) {
                Some(t) => asks[*t].push(id.clone()),
                None => asks.iter_mut().for_each(|a| a.push(id.clone())),
            }
        }
        asks
    }

    /// Learns from one round of answers (`found`: target index and id of every instance
    /// reported). Returns the ids asked only in their remembered target that it did not report,
    /// forgotten now, each with the target that was asked.
    pub fn learn(&mut self, asked: &Asks, found: &[(usize, &str)]) -> Vec<(String, usize)> {
        let seen: HashSet<(usize, &str)> = found.iter().copied().collect();
        let mut missed = Vec::new();
        for (t, ids) in asked.iter().enumerate() {
            for id in ids {
                if self.found.get(id) == Some(&t) && !seen.contains(&(t, id.as_str())) {
                    missed.push((id.clone(), t));
                }
            }
        }
        for (id, _) in &missed {
            self.found.remove(id);
        }
        for (t, id) in found {
            self.found.insert(id.to_string(), *t);
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

    #[test]
    fn unknown_ids_are_asked_everywhere_known_ones_only_where_they_were() {
        let all = ids(3);
        let mut w = Whereabouts::default();
        let first = w.asks(&all, 4);
        assert!(first.iter().all(|a| a == &all));
        // Found: id 0 in target 2, id 1 in target 3; id 2 nowhere.
        let missed = w.learn(&first, &[(2, &all[0]), (3, &all[1])]);
        assert!(missed.is_empty());
        let second = w.asks(&all, 4);
        assert_eq!(second[0], vec![all[2].clone()]);
        assert_eq!(second[1], vec![all[2].clone()]);
        assert_eq!(second[2], vec![all[0].clone(), all[2].clone()]);
        assert_eq!(second[3], vec![all[1].clone(), all[2].clone()]);
    }

    #[test]
    fn an_id_missing_from_its_target_is_forgotten_and_asked_everywhere_else() {
        let all = ids(2);
        let mut w = Whereabouts::default();
        let first = w.asks(&all, 3);
        w.learn(&first, &[(1, &all[0]), (1, &all[1])]);
        let second = w.asks(&all, 3);
        // Target 1 now reports only id 1.
        let missed = w.learn(&second, &[(1, &all[1])]);
        assert_eq!(missed, vec![(all[0].clone(), 1)]);
        let again = elsewhere(&missed, 3);
        assert_eq!(
            again,
            vec![vec![all[0].clone()], vec![], vec![all[0].clone()]]
        );
        // Forgotten: the next cycle asks it everywhere.
        let third = w.asks(&all, 3);
        assert!(third.iter().all(|a| a.contains(&all[0])));
    }

    #[test]
    fn the_cost_is_per_target_not_per_service() {
        // 30 services of 4 instances each, spread over 6 targets: once learned, each target is
        // asked only its own ids (one DescribeInstances call each, at 200 ids a call).
        let all = ids(120);
        let mut w = Whereabouts::default();
        let first = w.asks(&all, 6);
        let found: Vec<(usize, &str)> = all
            .iter()
            .enumerate()
            .map(|(i, id)| (i % 6, id.as_str()))
            .collect();
        w.learn(&first, &found);
        let second = w.asks(&all, 6);
        assert_eq!(second.iter().map(Vec::len).sum::<usize>(), 120);
        assert!(second.iter().all(|a| a.len() == 20));
    }

    #[test]
    fn memory_keeps_only_the_cycles_ids() {
        let all = ids(3);
        let mut w = Whereabouts::default();
        let first = w.asks(&all, 1);
        w.learn(&first, &[(0, &all[0]), (0, &all[1]), (0, &all[2])]);
        w.retain(&[all[1].as_str()].into_iter().collect());
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn a_remembered_target_beyond_the_list_counts_as_unknown() {
        let all = ids(1);
        let mut w = Whereabouts::default();
        w.learn(&vec![all.clone(); 5], &[(4, &all[0])]);
        assert_eq!(w.asks(&all, 2), vec![all.clone(), all.clone()]);
    }
}
