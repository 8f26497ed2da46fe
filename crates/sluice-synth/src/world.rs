//! What every lead shares: the random streams, the name permutations and the time window.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::vocab::{ACCOUNT_MIDDLES, ACCOUNT_PREFIXES, FIRST_NAMES, Industry, LAST_NAMES};

/// Independent ChaCha streams under one seed: one per lead, one per account, one for naming.
/// A lead's data depends only on `(seed, lead index)`, never on the leads before it.
pub(crate) struct Streams {
    base: ChaCha8Rng,
}

/// Account streams live in the upper half of the 2^64 stream space, leads in the lower half.
const ACCOUNT_STREAMS: u64 = 1 << 63;
const NAMING_STREAM: u64 = u64::MAX;

impl Streams {
    pub(crate) fn new(seed: u64) -> Streams {
        Streams {
            base: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    fn stream(&self, id: u64) -> ChaCha8Rng {
        let mut rng = self.base.clone();
        rng.set_stream(id);
        rng
    }

    pub(crate) fn lead(&self, index: u64) -> ChaCha8Rng {
        self.stream(index & !ACCOUNT_STREAMS)
    }

    pub(crate) fn account(&self, index: u64) -> ChaCha8Rng {
        self.stream(ACCOUNT_STREAMS | (index & (NAMING_STREAM >> 1)))
    }
}

/// A seeded bijection on `0..size`, applied block by block to any index, so that consecutive
/// ids get unrelated names while no two ids get the same `(name, block)` pair.
struct Permutation {
    size: u64,
    multiplier: u64,
    offset: u64,
}

impl Permutation {
    fn new(rng: &mut ChaCha8Rng, size: u64) -> Permutation {
        let multiplier = loop {
            let m = rng.random_range(1..size.max(2));
            if gcd(m, size) == 1 {
                break m;
            }
        };
        Permutation {
            size,
            multiplier,
            offset: rng.random_range(0..size),
        }
    }

    /// `(position within the block, block number)`.
    fn apply(&self, index: u64) -> (u64, u64) {
        let within = index % self.size;
        let block = index / self.size;
        // u128: `within * multiplier` can exceed u64 for huge sizes; here it never does, but
        // the cost is nil and the bijection then holds for any size.
        let permuted = (u128::from(within) * u128::from(self.multiplier) + u128::from(self.offset))
            % u128::from(self.size);
        (permuted as u64, block)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Unique names for accounts and people.
pub(crate) struct Naming {
    account: Permutation,
    person: Permutation,
}

impl Naming {
    pub(crate) fn new(streams: &Streams) -> Naming {
        let mut rng = streams.stream(NAMING_STREAM);
        let account = Permutation::new(&mut rng, crate::account::NAMES_PER_BLOCK);
        let person = Permutation::new(&mut rng, (FIRST_NAMES.len() * LAST_NAMES.len()) as u64);
        Naming { account, person }
    }

    /// `([prefix, middle, suffix], copy)`: the name is those words (the middle one may be
    /// empty) with `copy + 1` appended when `copy > 0`. Unique per index (see tests).
    pub(crate) fn account_name(&self, index: u64, industry: Industry) -> ([&'static str; 3], u64) {
        let (w, copy) = self.account.apply(index);
        let (prefixes, middles) = (ACCOUNT_PREFIXES.len() as u64, ACCOUNT_MIDDLES.len() as u64);
        let prefix = ACCOUNT_PREFIXES[(w % prefixes) as usize];
        let middle = ACCOUNT_MIDDLES[(w / prefixes % middles) as usize];
        let suffix = industry.name_suffixes()[(w / prefixes / middles) as usize];
        ([prefix, middle, suffix], copy)
    }

    /// `(first, last, copy)`, unique per lead index; `copy` numbers the email address.
    pub(crate) fn person_name(&self, index: u64) -> (&'static str, &'static str, u64) {
        let (w, copy) = self.person.apply(index);
        let firsts = FIRST_NAMES.len() as u64;
        (
            FIRST_NAMES[(w % firsts) as usize],
            LAST_NAMES[(w / firsts) as usize],
            copy,
        )
    }
}

/// The generated period `[start, end)` in Unix milliseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub start: i64,
    pub end: i64,
    /// Kept free at the end of the window so that every event has an instant after it
    /// (for an opportunity) that is still before `end`.
    pub margin: i64,
}

impl Window {
    /// `None` when `days` is zero or the window does not fit in the calendar.
    pub(crate) fn new(end: chrono::DateTime<chrono::Utc>, days: u32) -> Option<Window> {
        if days == 0 {
            return None;
        }
        let end = end.timestamp_millis();
        let length = i64::from(days) * 86_400_000;
        let start = end.checked_sub(length)?;
        // Never read past year 9999 or before year 0 in the timestamp writer.
        if start < -62_167_219_200_000 || end > 253_402_300_799_999 {
            return None;
        }
        Some(Window {
            start,
            end,
            margin: (length / 100).min(3_600_000),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::account::{NAMES_PER_BLOCK, slug};

    #[test]
    fn permutations_are_bijections() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for size in [1, 2, 10, 3000, 10_000] {
            let p = Permutation::new(&mut rng, size);
            let seen: HashSet<_> = (0..2 * size).map(|i| p.apply(i)).collect();
            assert_eq!(seen.len() as u64, 2 * size);
            assert!(seen.iter().all(|&(w, block)| w < size && block < 2));
        }
    }

    #[test]
    fn account_domains_never_collide() {
        let naming = Naming::new(&Streams::new(9));
        let mut domains = HashSet::new();
        // Two blocks of every industry: every word combination, with and without a number.
        for &industry in Industry::ALL {
            for index in 0..2 * NAMES_PER_BLOCK {
                let (words, copy) = naming.account_name(index, industry);
                let domain: String = words.iter().map(|w| slug(w)).collect();
                assert!(
                    domains.insert(format!("{domain}{copy}")),
                    "{words:?} {copy}"
                );
            }
        }
    }

    #[test]
    fn person_names_are_unique_per_lead() {
        let naming = Naming::new(&Streams::new(9));
        let block = (FIRST_NAMES.len() * LAST_NAMES.len()) as u64;
        let names: HashSet<_> = (0..2 * block).map(|i| naming.person_name(i)).collect();
        assert_eq!(names.len() as u64, 2 * block);
    }
}
