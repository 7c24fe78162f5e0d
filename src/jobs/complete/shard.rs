//! Which inputs one process of many completes: shard K of N takes the inputs whose path
//! (relative to the folder named on the command line) hashes to K mod N. No shared state,
//! no coordinator: every process lists the same inputs and keeps its own, so N processes
//! started anywhere (a Slurm job array, a Kubernetes Indexed Job, a shell loop) cover every
//! input exactly once.
//!
//! Without `--shard`, the shard comes from the scheduler's environment when there is one:
//!   Slurm job arrays   SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT
//!                      (and SLURM_ARRAY_TASK_STEP for arrays like 0-30:10)
//!   Kubernetes         JOB_COMPLETION_INDEX (an Indexed Job), with the count from
//!                      --shard-count or DCGAN_SHARD_COUNT (Kubernetes does not export it)

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// 0-based, below `count`.
    pub index: u64,
    pub count: u64,
    /// Where it came from, for the line that says which shard this is.
    pub from: String,
}

/// A stable 64-bit hash of a relative path (FNV-1a over its UTF-8 bytes, `/` separators):
/// the same on every machine and in every version, so a resumed or re-run shard takes the
/// same inputs.
pub fn path_hash(relative: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in relative.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// MurmurHash3's 64-bit finaliser: FNV-1a's low bits depend on little more than the parity
/// of the bytes (its prime is odd), so `hash % N` alone would split names like s37_01.png,
/// s38_04.png badly; mixed, every bit of the hash reaches the low ones.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl Shard {
    /// `K/N` with 0 <= K < N.
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = || Error::new(format!("--shard {text}: give K/N, shard K (from 0) of N, e.g. --shard 0/4 ... --shard 3/4"));
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (k.trim().parse::<u64>().map_err(|_| bad())?, n.trim().parse::<u64>().map_err(|_| bad())?);
        Shard::new(index, count, "--shard".into()).map_err(|e| Error::new(format!("--shard {text}: {e}")))
    }

    fn new(index: u64, count: u64, from: String) -> Result<Shard> {
        if count == 0 {
            return Err(Error::new("there must be at least one shard"));
        }
        if index >= count {
            return Err(Error::new(format!("shard {index} of {count} does not exist: shards are numbered 0 to {}", count - 1)));
        }
        Ok(Shard { index, count, from })
    }

    /// Whether this shard completes the input at `relative`.
    pub fn owns(&self, relative: &str) -> bool {
        mix(path_hash(relative)) % self.count == self.index
    }

    /// The shard the scheduler's environment gives (`env` reads a variable), or `None` when
    /// no scheduler set one. `count` is --shard-count.
    pub fn from_env(env: impl Fn(&str) -> Option<String>, count: Option<u64>) -> Result<Option<Shard>> {
        let number = |name: &str| -> Result<Option<u64>> {
            match env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => v.parse::<u64>().map(Some).map_err(|_| Error::new(format!("{name}={v} is not a whole number"))),
            }
        };
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let n = match count {
                Some(n) => n,
                None => number("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| Error::new("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: pass --shard K/N"))?,
            };
            if id < min || (id - min) % step != 0 {
                return Err(Error::new(format!("SLURM_ARRAY_TASK_ID={id} is not in the array {min}, {}, ... (step {step}): pass --shard K/N", min + step)));
            }
            let from = format!("Slurm: SLURM_ARRAY_TASK_ID={id}, SLURM_ARRAY_TASK_MIN={min}, SLURM_ARRAY_TASK_COUNT={n}");
            return Shard::new((id - min) / step, n, from).map(Some);
        }
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let n = match count {
                Some(n) => n,
                None => number("DCGAN_SHARD_COUNT")?.ok_or_else(|| {
                    Error::new("JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but not how many shards there are: pass --shard-count N or set DCGAN_SHARD_COUNT to the Job's completions")
                })?,
            };
            return Shard::new(index, n, format!("Kubernetes: JOB_COMPLETION_INDEX={index} of {n}")).map(Some);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| vars.get(k).cloned()
    }

    #[test]
    fn shards_cover_every_input_once_and_do_not_move() {
        let paths: Vec<String> = (0..1000).map(|i| format!("sub{}/img{i}.png", i % 7)).collect();
        let shards: Vec<Shard> = (0..4).map(|k| Shard::parse(&format!("{k}/4")).unwrap()).collect();
        let mut sizes = [0; 4];
        for p in &paths {
            let owners: Vec<usize> = (0..4).filter(|&k| shards[k].owns(p)).collect();
            assert_eq!(owners.len(), 1, "{p}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| (200..300).contains(&n)), "balanced: {sizes:?}");
        // Names made of the same bytes in another order: FNV-1a alone gives them all the same
        // low bit (byte parity), so two shards would get all or nothing of them.
        let digits = ["3", "7", "0", "1", "4"];
        let mut names = Vec::new();
        for a in 0..5 {
            for b in (0..5).filter(|&b| b != a) {
                for c in (0..5).filter(|&c| c != a && c != b) {
                    let rest: String = (0..5).filter(|d| ![a, b, c].contains(d)).map(|d| digits[d]).collect();
                    names.push(format!("s{}{}{}{rest}.png", digits[a], digits[b], digits[c]));
                }
            }
        }
        let first = names.iter().filter(|n| Shard::parse("0/2").unwrap().owns(n)).count();
        assert!((15..=45).contains(&first), "{first} of {} anagrams in shard 0 of 2", names.len());
        // The hash is FNV-1a's (its published test vectors): fixed in every version.
        assert_eq!(path_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(path_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn shard_flags_are_checked() {
        assert_eq!(Shard::parse("2/4").unwrap().index, 2);
        for bad in ["4/4", "1/0", "x/4", "3", "-1/4"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_scheduler_s_environment_gives_the_shard() {
        assert_eq!(Shard::from_env(env(&[]), None).unwrap(), None);
        let slurm = Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "7"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_COUNT", "4")]), None).unwrap().unwrap();
        assert_eq!((slurm.index, slurm.count), (2, 4));
        assert!(slurm.from.starts_with("Slurm"), "{}", slurm.from);
        let stepped = Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "20"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_STEP", "10"), ("SLURM_ARRAY_TASK_COUNT", "4")]), None).unwrap().unwrap();
        assert_eq!((stepped.index, stepped.count), (2, 4));
        assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_COUNT", "3")]), None).is_err(), "task 3 of 0..2");
        assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "1")]), None).is_err(), "no count");

        let k8s = Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "3"), ("DCGAN_SHARD_COUNT", "8")]), None).unwrap().unwrap();
        assert_eq!((k8s.index, k8s.count), (3, 8));
        assert!(k8s.from.starts_with("Kubernetes"));
        let flag = Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "3")]), Some(5)).unwrap().unwrap();
        assert_eq!(flag.count, 5);
        let missing = Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0")]), None).unwrap_err();
        assert!(missing.to_string().contains("--shard-count"), "{missing}");
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "x")]), Some(2)).is_err());
    }
}
