//! Leads (people): persona, firmographics and identity, drawn first from the lead's stream.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::account::{Account, COUNTRY_WEIGHTS, account_count, slug};
use crate::sample::{between, chance, pick, unit, weighted};
use crate::vocab::{
    CONSULTANT_TITLES, Country, Department, IP_FIRST_OCTETS, LeadSource, PERSONAL_DOMAINS,
    STUDENT_TITLES, Seniority, USER_AGENTS, titles,
};
use crate::{Naming, Streams, Window};

/// Who the lead is, which decides much of what they do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Persona {
    /// Works at an account and may buy.
    Buyer,
    /// Researching for coursework: reads and downloads a lot, never buys.
    Student,
    /// Independent, no account: collects material for clients.
    Consultant,
}

/// Share of leads that are students and consultants (both always use a personal address).
const STUDENT_SHARE: f64 = 0.06;
const CONSULTANT_SHARE: f64 = 0.04;
/// Share of buyers who sign up with a personal address; brings personal email to about 15%.
const BUYER_PERSONAL_EMAIL: f64 = 0.055;
/// Share of buyers located in another country than their account's head office.
const BUYER_ABROAD: f64 = 0.15;

/// Every source is equally likely for every persona, so a source's lift comes only from its
/// planted log-odds and from what its leads go on to do.
pub(crate) const SOURCE_WEIGHTS: &[(LeadSource, u32)] = &[
    (LeadSource::OrganicSearch, 18),
    (LeadSource::PaidSearch, 13),
    (LeadSource::PaidSocial, 12),
    (LeadSource::Webinar, 8),
    (LeadSource::ContentSyndication, 18),
    (LeadSource::Referral, 6),
    (LeadSource::Event, 8),
    (LeadSource::Partner, 5),
    (LeadSource::Direct, 12),
];

const SENIORITY_WEIGHTS: &[(Seniority, u32)] = &[
    (Seniority::Executive, 6),
    (Seniority::Vp, 9),
    (Seniority::Director, 16),
    (Seniority::Manager, 27),
    (Seniority::Staff, 42),
];

const DEPARTMENT_WEIGHTS: &[(Department, u32)] = &[
    (Department::Engineering, 24),
    (Department::It, 12),
    (Department::Data, 10),
    (Department::Marketing, 16),
    (Department::Sales, 10),
    (Department::Finance, 7),
    (Department::Operations, 8),
    (Department::Hr, 5),
    (Department::Other, 8),
];

/// Draws of an account index before a lead settles for the last one drawn.
const ACCOUNT_TRIES: u32 = 8;

/// One lead, as written to `leads.csv` and sent in its `identify` call.
#[derive(Clone, Debug)]
pub(crate) struct Lead {
    /// Zero-based; the id is `lead-` and `index + 1` padded to seven digits.
    pub index: u64,
    pub persona: Persona,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub email: String,
    pub personal_email: bool,
    pub title: &'static str,
    pub seniority: Seniority,
    pub department: Department,
    pub account: Option<Account>,
    pub country: Country,
    pub source: LeadSource,
    /// Unix ms of the identify call (`created_at`).
    pub created_ms: i64,
    /// The analytics.js anonymous id used before and after identify.
    pub anonymous_id: [u8; 16],
    pub ip: [u8; 4],
    pub user_agent: &'static str,
}

impl Lead {
    /// Draws the lead's identity and firmographics from its stream.
    pub(crate) fn generate(
        rng: &mut ChaCha8Rng,
        streams: &Streams,
        naming: &Naming,
        index: u64,
        leads: u64,
        window: &Window,
    ) -> Lead {
        let roll = unit(rng);
        let persona = if roll < STUDENT_SHARE {
            Persona::Student
        } else if roll < STUDENT_SHARE + CONSULTANT_SHARE {
            Persona::Consultant
        } else {
            Persona::Buyer
        };
        let (first_name, last_name, copy) = naming.person_name(index);
        let source = weighted(rng, SOURCE_WEIGHTS);

        let (seniority, department, title, account, personal_email) = match persona {
            Persona::Student => (
                Seniority::Student,
                Department::Other,
                pick(rng, STUDENT_TITLES),
                None,
                true,
            ),
            Persona::Consultant => (
                Seniority::Staff,
                Department::Other,
                pick(rng, CONSULTANT_TITLES),
                None,
                true,
            ),
            Persona::Buyer => {
                let seniority = weighted(rng, SENIORITY_WEIGHTS);
                let department = weighted(rng, DEPARTMENT_WEIGHTS);
                let title = pick(rng, titles(seniority, department));
                let account = draw_account(rng, streams, naming, account_count(leads));
                (
                    seniority,
                    department,
                    title,
                    Some(account),
                    chance(rng, BUYER_PERSONAL_EMAIL),
                )
            }
        };
        let country = match &account {
            Some(account) if !chance(rng, BUYER_ABROAD) => account.country,
            _ => weighted(rng, COUNTRY_WEIGHTS),
        };

        // (first, last, copy) is unique per lead, so the address is unique whatever the domain.
        let mut email = format!("{}.{}", slug(first_name), slug(last_name));
        if copy > 0 {
            email.push_str(&(copy + 1).to_string());
        }
        email.push('@');
        match &account {
            Some(account) if !personal_email => email.push_str(&account.domain),
            _ => email.push_str(pick(rng, PERSONAL_DOMAINS)),
        }

        let created_ms = between(rng, window.start, window.end - 2 * window.margin + 1);
        let mut anonymous_id = [0u8; 16];
        rng.fill(&mut anonymous_id);
        let ip = [
            pick(rng, IP_FIRST_OCTETS),
            rng.random::<u8>(),
            rng.random::<u8>(),
            rng.random_range(1..=254),
        ];
        let user_agent = pick(rng, USER_AGENTS);

        Lead {
            index,
            persona,
            first_name,
            last_name,
            email,
            personal_email,
            title,
            seniority,
            department,
            account,
            country,
            source,
            created_ms,
            anonymous_id,
            ip,
            user_agent,
        }
    }

    /// The account's name, or empty for leads without one.
    pub(crate) fn company(&self) -> &str {
        self.account.as_ref().map_or("", |a| a.name.as_str())
    }
}

/// Picks the lead's account, favouring larger companies (see [`Account::accepts_lead`]).
fn draw_account(
    rng: &mut ChaCha8Rng,
    streams: &Streams,
    naming: &Naming,
    accounts: u64,
) -> Account {
    let mut tries = 0;
    loop {
        let account = Account::generate(streams, naming, rng.random_range(0..accounts));
        tries += 1;
        if tries >= ACCOUNT_TRIES || account.accepts_lead(rng) {
            return account;
        }
    }
}
