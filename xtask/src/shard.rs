//! `--shard K/N`: a deterministic partition of the planned jobs over N machines, by
//! model first, then by job key. With N ≤ models, model i (roster order) belongs
//! whole to shard i mod N + 1: that shard pulls, converts, runs and judges it. With
//! N > models, model i gets the group of shards s ≡ i (mod models), and each of its
//! jobs goes to one shard of the group, chosen by the sha256 of its key (the name of
//! its observation file): each shard of the group converts the model and runs only
//! its jobs, and the model is judged once the group's evidence is merged
//! (`status --merge`). Every job is in exactly one shard; shards share nothing but
//! the committed repo.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// Shard `index` of `count` (1-based): "2/3".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The unsharded run: shard 1 of 1.
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };
}

impl Default for Shard {
    fn default() -> Shard {
        Shard::WHOLE
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Shard> {
        let (k, n) = s.split_once('/').with_context(|| format!("shard {s:?}: expected K/N, e.g. 2/3"))?;
        let index: usize = k.trim().parse().with_context(|| format!("shard {s:?}: K is not a number"))?;
        let count: usize = n.trim().parse().with_context(|| format!("shard {s:?}: N is not a number"))?;
        if count == 0 || index == 0 || index > count {
            bail!("shard {s:?}: K must be between 1 and N (and N at least 1)");
        }
        Ok(Shard { index, count })
    }
}

/// How much of one model a shard holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// Every job of the model: the shard judges it.
    Whole,
    /// Some of its jobs (the model's group has more than one shard): the shard
    /// gathers evidence, the merge judges. `lead` is the group's first shard, the one
    /// that reports what needs no job (a model not available on any machine).
    Part { lead: bool },
}

/// The partition of `models` models (in roster order) over `count` shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub models: usize,
    pub count: usize,
}

impl Plan {
    pub fn new(models: usize, count: usize) -> Plan {
        Plan { models, count: count.max(1) }
    }

    /// The shards (1-based) that share model `model`, in order.
    pub fn group(&self, model: usize) -> Vec<usize> {
        if self.models == 0 {
            return Vec::new();
        }
        if self.count <= self.models {
            return vec![model % self.count + 1];
        }
        (0..self.count).filter(|s| s % self.models == model).map(|s| s + 1).collect()
    }

    /// What shard `index` holds of model `model`, if anything.
    pub fn holding(&self, index: usize, model: usize) -> Option<Holding> {
        let group = self.group(model);
        match group.iter().position(|s| *s == index)? {
            _ if group.len() == 1 => Some(Holding::Whole),
            position => Some(Holding::Part { lead: position == 0 }),
        }
    }

    /// The shard (1-based) that runs the job `key` of model `model`.
    pub fn shard_of(&self, model: usize, key: &str) -> usize {
        let group = self.group(model);
        if group.len() == 1 {
            return group[0];
        }
        let digest = tmgt_schema::sha256_bytes(key.as_bytes());
        let bucket = u64::from_str_radix(&digest[..16], 16).unwrap_or(0);
        group[(bucket % group.len() as u64) as usize]
    }

    /// The models (indices) shard `index` holds any part of.
    pub fn models_of(&self, index: usize) -> Vec<usize> {
        (0..self.models).filter(|m| self.holding(index, *m).is_some()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2/3".parse::<Shard>().unwrap(), Shard { index: 2, count: 3 });
        assert_eq!("1/1".parse::<Shard>().unwrap(), Shard::WHOLE);
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", ""] {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
        assert_eq!(Shard { index: 2, count: 3 }.to_string(), "2/3");
    }

    #[test]
    fn models_first_then_jobs() {
        // Three models over three shards: one model each, whole.
        let p = Plan::new(3, 3);
        assert_eq!((p.models_of(1), p.models_of(2), p.models_of(3)), (vec![0], vec![1], vec![2]));
        assert_eq!(p.holding(2, 1), Some(Holding::Whole));
        // Three models over two shards: round robin by roster order.
        let p = Plan::new(3, 2);
        assert_eq!((p.models_of(1), p.models_of(2)), (vec![0, 2], vec![1]));
        // One model over three shards: its jobs are split, the first shard leads.
        let p = Plan::new(1, 3);
        assert_eq!(p.group(0), vec![1, 2, 3]);
        assert_eq!(p.holding(1, 0), Some(Holding::Part { lead: true }));
        assert_eq!(p.holding(3, 0), Some(Holding::Part { lead: false }));
        let keys: Vec<String> = (0..40).map(|i| format!("apr__int8__prompt{i}")).collect();
        for s in 1..=3 {
            assert!(keys.iter().any(|k| p.shard_of(0, k) == s), "shard {s} gets some of 40 jobs");
        }
    }

    proptest! {
        /// Every job of every model is run by exactly one shard, for N = 1..8: the
        /// shards together do everything once.
        #[test]
        fn sharding_is_a_partition(
            models in 1usize..6,
            count in 1usize..=8,
            jobs in proptest::collection::vec((0usize..6, "[a-z0-9_.-]{1,24}"), 0..60),
        ) {
            let plan = Plan::new(models, count);
            for (m, key) in jobs.iter().map(|(m, k)| (m % models, k)) {
                let owners: Vec<usize> = (1..=count)
                    .filter(|s| match plan.holding(*s, m) {
                        Some(Holding::Whole) => true,
                        Some(Holding::Part { .. }) => plan.shard_of(m, key) == *s,
                        None => false,
                    })
                    .collect();
                prop_assert_eq!(owners.len(), 1, "model {} job {}: owners {:?}", m, key, owners);
                prop_assert_eq!(owners[0], plan.shard_of(m, key));
            }
            // Every model has exactly one lead or whole owner; every shard is in some
            // group when there are at least as many shards as models.
            for m in 0..models {
                let leads = (1..=count)
                    .filter(|s| matches!(plan.holding(*s, m), Some(Holding::Whole | Holding::Part { lead: true })))
                    .count();
                prop_assert_eq!(leads, 1);
            }
            if count >= models {
                for s in 1..=count {
                    prop_assert!(!plan.models_of(s).is_empty(), "shard {} holds nothing", s);
                }
            }
        }
    }
}
