//! What a lead does: its Segment calls over time, conditioned on its latent intent and persona.
//!
//! Behaviours are split by the role their feature plays in the planted truth
//! ([`crate::truth::FEATURES`]):
//! - drivers (pricing, docs, demo, trial, attended webinars) are more likely the higher the
//!   lead's intent, and intent rises with fit: that is what makes them predictive;
//! - noise (blog, product, customers, about, emails, newsletter, case studies) have
//!   probabilities that depend on nothing about the lead, so they carry no lift at all;
//! - traps (whitepapers, webinar registrations, careers) are done mostly by the low-value
//!   crowd: students, consultants, personal addresses and content-syndication leads.
//!
//! How *much* a lead does scales with an activity level drawn independently of everything
//! else, which makes event counts heavy-tailed without making volume itself a signal.

use rand_chacha::ChaCha8Rng;

use crate::lead::{Lead, Persona};
use crate::sample::{between, chance, count, exp, exponential, index, normal, weighted};
use crate::vocab::{
    DEMO_FORMS, Department, EMAIL_CAMPAIGNS, LeadSource, NEWSLETTER_LISTS, Section, Seniority,
    TRIAL_PLANS, TrackEvent, WEBINARS, WHITEPAPERS,
};

const DAY: i64 = 86_400_000;
const MINUTE: i64 = 60_000;

/// Where a call came from, which decides its referrer and UTM campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// Typed URL or bookmark: no referrer, no campaign.
    Direct,
    /// From a search engine, no campaign.
    Search,
    /// From the lead's acquisition campaign, or for email events from the email campaign.
    Campaign,
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// A page view; `item` indexes [`Section::items`], [`NO_ITEM`] for the section's own page.
    Page {
        section: Section,
        item: u8,
    },
    /// A track call; `item` indexes the event's property list (assets, webinars, ...).
    Track {
        event: TrackEvent,
        item: u8,
    },
    Identify,
    Group,
}

/// `item` of a page that has no sub-page (`/`, `/pricing`, `/careers`, `/about`).
pub(crate) const NO_ITEM: u8 = u8::MAX;

/// One Segment call of a lead.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    /// Unix ms.
    pub t: i64,
    pub action: Action,
    pub via: Via,
}

/// A lead's calls in time order. Reused from lead to lead, so memory stays bounded by the
/// busiest lead rather than growing with the data set.
#[derive(Default)]
pub(crate) struct Timeline {
    pub events: Vec<Event>,
}

/// Anonymous page views before identify come from the first visits: home, blog, product.
const ANONYMOUS_SECTIONS: &[(Section, u32)] = &[
    (Section::Home, 4),
    (Section::Blog, 4),
    (Section::Product, 3),
    (Section::Customers, 1),
    (Section::About, 1),
];

impl Timeline {
    /// Replaces the timeline with the given lead's calls, all within the window.
    pub(crate) fn generate(
        &mut self,
        rng: &mut ChaCha8Rng,
        lead: &Lead,
        intent: f64,
        window: &crate::Window,
    ) {
        self.events.clear();
        let created = lead.created_ms;
        let activity = exp(0.9 * normal(rng));
        let has_campaign = crate::emit::has_campaign(lead.source);
        let acquisition = if has_campaign {
            Via::Campaign
        } else if lead.source == LeadSource::OrganicSearch {
            Via::Search
        } else {
            Via::Direct
        };

        // Anonymous visits in the two weeks before the lead identifies itself.
        let anon_from = (created - 14 * DAY).max(window.start);
        if created - anon_from >= 2 && chance(rng, 0.65) {
            for _ in 0..1 + count(rng, 1.5) {
                let section = weighted(rng, ANONYMOUS_SECTIONS);
                let t = between(rng, anon_from, created);
                self.page(rng, t, section, acquisition);
            }
        }
        self.events.sort_by_key(|e| e.t);

        self.events.push(Event {
            t: created,
            action: Action::Identify,
            via: acquisition,
        });
        if lead.account.is_some() {
            self.events.push(Event {
                t: created,
                action: Action::Group,
                via: acquisition,
            });
        }
        let identified = self.events.len();

        // Everything else happens during the lead's active span after identify.
        let span = 3 * DAY + exponential(rng, 80.0 * DAY as f64) as i64;
        let last = (created + span).min(window.end - window.margin);
        let first = (created + 1000).min(last);
        let at = |rng: &mut ChaCha8Rng| between(rng, first, last + 1);
        let later =
            |rng: &mut ChaCha8Rng, t: i64, within: i64| between(rng, t, (t + within).min(last) + 1);
        let later_visit = |rng: &mut ChaCha8Rng| {
            if has_campaign && chance(rng, 0.1) {
                Via::Campaign
            } else if chance(rng, 0.3) {
                Via::Search
            } else {
                Via::Direct
            }
        };

        let low_value = lead.persona != Persona::Buyer
            || lead.personal_email
            || lead.source == LeadSource::ContentSyndication;
        let technical = matches!(
            lead.department,
            Department::Engineering | Department::Data | Department::It
        );

        // Noise pages: the same odds for everybody.
        for (section, p, mean) in [
            (Section::Home, 0.5, 1.5 * activity),
            (Section::Blog, 0.45, 10.0 * activity),
            (Section::Product, 0.5, 4.0 * activity),
            (Section::Customers, 0.2, 1.0 * activity),
            (Section::About, 0.15, 0.5),
        ] {
            if chance(rng, p) {
                for _ in 0..1 + count(rng, mean) {
                    let (t, via) = (at(rng), later_visit(rng));
                    self.page(rng, t, section, via);
                }
            }
        }

        // Driver pages: pricing and docs follow intent; docs mostly for technical roles.
        if chance(rng, 0.06 + 0.55 * intent) {
            for _ in 0..1 + count(rng, 1.5) {
                let (t, via) = (at(rng), later_visit(rng));
                self.page(rng, t, Section::Pricing, via);
            }
        }
        let docs = if technical {
            0.1 + 0.5 * intent
        } else {
            0.03 + 0.2 * intent
        };
        if chance(rng, docs) {
            for _ in 0..1 + count(rng, 8.0 * activity) {
                let (t, via) = (at(rng), later_visit(rng));
                self.page(rng, t, Section::Docs, via);
            }
        }

        // Trap page: job seekers, who are mostly students and individual contributors.
        let careers = match (lead.persona, lead.seniority) {
            (Persona::Student, _) => 0.45,
            (Persona::Consultant, _) => 0.25,
            (_, Seniority::Staff) => 0.12,
            _ => 0.03,
        };
        if chance(rng, careers) {
            for _ in 0..1 + count(rng, 1.5) {
                let (t, via) = (at(rng), later_visit(rng));
                self.page(rng, t, Section::Careers, via);
            }
        }

        // Noise tracks.
        if chance(rng, 0.6) {
            for _ in 0..1 + count(rng, 18.0 * activity) {
                let t = at(rng);
                let campaign = index(rng, EMAIL_CAMPAIGNS.len()) as u8;
                self.track(t, TrackEvent::EmailOpened, campaign, Via::Campaign);
                if chance(rng, 0.12) {
                    let t = later(rng, t, 2 * DAY);
                    self.track(t, TrackEvent::EmailClicked, campaign, Via::Campaign);
                }
            }
        }
        if chance(rng, 0.15) {
            let (t, list) = (at(rng), index(rng, NEWSLETTER_LISTS.len()) as u8);
            self.track(t, TrackEvent::NewsletterSubscribed, list, Via::Direct);
        }
        if chance(rng, 0.15) {
            for _ in 0..1 + count(rng, 1.0) {
                let (t, via) = (at(rng), later_visit(rng));
                let study = index(rng, Section::Customers.items().len()) as u8;
                self.track(t, TrackEvent::CaseStudyViewed, study, via);
            }
        }

        // Trap: whitepapers, downloaded over and over (the same one to three assets) by the
        // low-value crowd.
        let (whitepaper, downloads) = if low_value {
            (0.65, 4.0 * activity)
        } else {
            (0.18, 0.8)
        };
        if chance(rng, whitepaper) {
            let first_asset = index(rng, WHITEPAPERS.len());
            let assets = 1 + index(rng, 3);
            for _ in 0..1 + count(rng, downloads) {
                let asset = ((first_asset + index(rng, assets)) % WHITEPAPERS.len()) as u8;
                let (t, via) = (at(rng), later_visit(rng));
                self.track(t, TrackEvent::WhitepaperDownloaded, asset, via);
            }
        }

        // Trap: webinar registrations (same odds of low value), attendance is a small driver.
        let register = if lead.source == LeadSource::Webinar {
            0.9
        } else if low_value {
            0.35
        } else {
            0.12
        };
        if chance(rng, register) {
            let first_webinar = index(rng, WEBINARS.len());
            for k in 0..(1 + count(rng, 0.6) as usize).min(WEBINARS.len()) {
                let webinar = ((first_webinar + k) % WEBINARS.len()) as u8;
                let t = at(rng);
                self.track(t, TrackEvent::WebinarRegistered, webinar, Via::Campaign);
                if chance(rng, 0.1 + 0.55 * intent) {
                    let t = later(rng, t, 14 * DAY);
                    self.track(t, TrackEvent::WebinarAttended, webinar, Via::Direct);
                }
            }
        }

        // Drivers: hand-raisers.
        if lead.persona == Persona::Buyer && chance(rng, 0.35 * intent * intent.sqrt()) {
            for _ in 0..1 + u32::from(chance(rng, 0.1)) {
                let (t, form) = (at(rng), index(rng, DEMO_FORMS.len()) as u8);
                self.track(t, TrackEvent::DemoRequested, form, Via::Direct);
            }
        }
        let trial = if technical { 0.3 } else { 0.1 };
        if chance(rng, trial * intent) {
            let (t, plan) = (at(rng), index(rng, TRIAL_PLANS.len()) as u8);
            self.track(t, TrackEvent::TrialStarted, plan, Via::Direct);
        }

        // Stable sort: a click stays after its open, attendance after its registration.
        self.events[identified..].sort_by_key(|e| e.t);
    }

    fn page(&mut self, rng: &mut ChaCha8Rng, t: i64, section: Section, via: Via) {
        let items = section.items();
        let item = match section {
            // `/careers` itself is the page most job seekers land on.
            Section::Careers if chance(rng, 0.4) => NO_ITEM,
            _ if items.is_empty() => NO_ITEM,
            _ => index(rng, items.len()) as u8,
        };
        self.events.push(Event {
            t,
            action: Action::Page { section, item },
            via,
        });
    }

    fn track(&mut self, t: i64, event: TrackEvent, item: u8, via: Via) {
        self.events.push(Event {
            t,
            action: Action::Track { event, item },
            via,
        });
    }
}

/// Spacing of page views in one visit; used by the writer to chain referrers.
pub(crate) const SAME_VISIT: i64 = 30 * MINUTE;
