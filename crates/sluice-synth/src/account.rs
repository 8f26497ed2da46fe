//! Accounts (companies). Each account is a pure function of `(seed, index)`: it has its own
//! ChaCha stream, so a lead can regenerate its account instead of the generator keeping every
//! account in memory.

use rand_chacha::ChaCha8Rng;

use crate::sample::{exp, ln, normal, unit, weighted};
use crate::vocab::{ACCOUNT_MIDDLES, ACCOUNT_PREFIXES, Country, Industry, SUFFIXES_PER_INDUSTRY};
use crate::{Naming, Streams};

/// Industry mix: Software and Education are both common, so the Education trap has volume.
const INDUSTRY_WEIGHTS: &[(Industry, u32)] = &[
    (Industry::Software, 18),
    (Industry::FinancialServices, 10),
    (Industry::Healthcare, 9),
    (Industry::Manufacturing, 10),
    (Industry::Retail, 8),
    (Industry::Education, 14),
    (Industry::Government, 6),
    (Industry::Media, 7),
    (Industry::Consulting, 10),
    (Industry::NonProfit, 8),
];

/// Country mix shared by accounts and by leads without an account.
pub(crate) const COUNTRY_WEIGHTS: &[(Country, u32)] = &[
    (Country::Us, 34),
    (Country::Gb, 10),
    (Country::De, 9),
    (Country::Fr, 6),
    (Country::Ca, 7),
    (Country::Au, 5),
    (Country::In, 11),
    (Country::Br, 6),
    (Country::Nl, 6),
    (Country::Se, 6),
];

/// A company, as written to `accounts.csv` and sent in `group` traits.
#[derive(Clone, Debug)]
pub(crate) struct Account {
    /// Zero-based; the id is `acct-` and `index + 1` padded to six digits.
    pub index: u64,
    pub name: String,
    pub domain: String,
    pub industry: Industry,
    pub employees: u64,
    pub annual_revenue: u64,
    pub country: Country,
}

/// Number of accounts for a number of leads: about one per eight leads, at least one.
pub(crate) fn account_count(leads: u64) -> u64 {
    leads.div_ceil(8).max(1)
}

impl Account {
    /// The account with this index; the same for every call with the same seed.
    pub(crate) fn generate(streams: &Streams, naming: &Naming, index: u64) -> Account {
        let mut rng = streams.account(index);
        let industry = weighted(&mut rng, INDUSTRY_WEIGHTS);
        let country = weighted(&mut rng, COUNTRY_WEIGHTS);
        // Log-normal headcount, median 150: about 40% land in the 200..5000 sweet spot.
        let employees = (150.0 * exp(1.7 * normal(&mut rng)))
            .round()
            .clamp(5.0, 100_000.0) as u64;
        let revenue =
            employees as f64 * industry.revenue_per_employee() * exp(0.35 * normal(&mut rng));
        let annual_revenue = ((revenue / 1000.0).round() as u64).max(50) * 1000;

        let (words, copy) = naming.account_name(index, industry);
        let mut name = words
            .iter()
            .filter(|w| !w.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let mut domain: String = words.iter().map(|w| slug(w)).collect();
        if copy > 0 {
            let n = (copy + 1).to_string();
            name.push(' ');
            name.push_str(&n);
            domain.push_str(&n);
        }
        domain.push('.');
        domain.push_str(country.tld());
        Account {
            index,
            name,
            domain,
            industry,
            employees,
            annual_revenue,
            country,
        }
    }

    /// Whether a lead that drew this account keeps it: bigger companies have more people who
    /// become leads, without storing a per-account weight table.
    pub(crate) fn accepts_lead(&self, rng: &mut ChaCha8Rng) -> bool {
        unit(rng) < 0.3 + 0.14 * ln(self.employees as f64) / std::f64::consts::LN_10
    }
}

/// Lower-case ASCII letters and digits only: for domains and email local parts.
pub(crate) fn slug(word: &str) -> String {
    word.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Number of distinct `(prefix, suffix)` pairs per industry before names get a number.
pub(crate) const NAMES_PER_BLOCK: u64 =
    (ACCOUNT_PREFIXES.len() * ACCOUNT_MIDDLES.len() * SUFFIXES_PER_INDUSTRY) as u64;
