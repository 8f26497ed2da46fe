//! Writing rows and Segment messages. Everything goes through reused byte buffers, so the
//! cost per event is formatting, not allocation.

use crate::account::Account;
use crate::behaviour::{Action, Event, NO_ITEM, SAME_VISIT, Via};
use crate::lead::Lead;
use crate::outcome::{Close, Opportunity};
use crate::vocab::{
    CUSTOMERS, DEMO_FORMS, EMAIL_CAMPAIGNS, LeadSource, NEWSLETTER_LISTS, SITE, Section,
    TRIAL_PLANS, TrackEvent, WEBINARS, WHITEPAPERS,
};
use crate::write::{csv_field, json_str, padded, timestamp, uint};

pub(crate) const ACCOUNTS_HEADER: &[u8] =
    b"id,name,domain,industry,employees,annual_revenue,country\n";
pub(crate) const LEADS_HEADER: &[u8] =
    b"id,email,first_name,last_name,title,seniority,department,company,account_id,country,lead_source,created_at\n";
pub(crate) const OUTCOMES_HEADER: &[u8] = b"lead_id,email,account_id,type,amount,date,reason\n";

const GOOGLE: &str = "https://www.google.com/";

/// UTM parameters (`context.campaign`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Utm {
    pub source: &'static str,
    pub medium: &'static str,
    pub name: &'static str,
    /// Referrer of the landing page view.
    pub referrer: &'static str,
}

/// Whether leads from this source arrive with UTM parameters.
pub(crate) fn has_campaign(source: LeadSource) -> bool {
    !matches!(source, LeadSource::OrganicSearch | LeadSource::Direct)
}

/// The acquisition campaign of a lead from `source`; `variant` picks among a few campaigns.
pub(crate) fn campaign(source: LeadSource, variant: u8) -> Option<Utm> {
    let v = usize::from(variant);
    let utm = |sources: &[&'static str], medium, names: &[&'static str], referrer| Utm {
        source: sources[v % sources.len()],
        medium,
        name: names[v / 7 % names.len()],
        referrer,
    };
    Some(match source {
        LeadSource::OrganicSearch | LeadSource::Direct => return None,
        LeadSource::PaidSearch => utm(
            &["google"],
            "cpc",
            &[
                "brand-search",
                "nonbrand-lead-scoring",
                "competitor-conquest",
            ],
            GOOGLE,
        ),
        LeadSource::PaidSocial => utm(
            &["linkedin"],
            "paid_social",
            &["abm-mid-market", "retargeting", "thought-leadership"],
            "https://www.linkedin.com/",
        ),
        LeadSource::Webinar => utm(
            &["on24"],
            "webinar",
            &["scoring-models-webinar", "backtesting-webinar"],
            "",
        ),
        LeadSource::ContentSyndication => utm(
            &["techtarget", "netline", "integrate", "madison-logic"],
            "syndication",
            &["syndication-h1", "syndication-h2"],
            "",
        ),
        LeadSource::Referral => utm(
            &["g2"],
            "referral",
            &["review-sites"],
            "https://www.g2.com/",
        ),
        LeadSource::Event => utm(
            &["kubecon", "aws-summit", "saastr"],
            "event",
            &["booth-scans"],
            "",
        ),
        LeadSource::Partner => utm(
            &["aws-marketplace", "snowflake-partner", "hubspot-apps"],
            "partner",
            &["co-marketing"],
            "",
        ),
    })
}

/// Appends `acct-000042`.
pub(crate) fn account_id(buf: &mut Vec<u8>, index: u64) {
    buf.extend_from_slice(b"acct-");
    padded(buf, index + 1, 6);
}

/// Appends `lead-0000042`.
pub(crate) fn lead_id(buf: &mut Vec<u8>, index: u64) {
    buf.extend_from_slice(b"lead-");
    padded(buf, index + 1, 7);
}

/// One `accounts.csv` row.
pub(crate) fn account_row(buf: &mut Vec<u8>, a: &Account) {
    account_id(buf, a.index);
    buf.push(b',');
    csv_field(buf, &a.name);
    buf.push(b',');
    csv_field(buf, &a.domain);
    buf.push(b',');
    csv_field(buf, a.industry.as_str());
    buf.push(b',');
    uint(buf, a.employees);
    buf.push(b',');
    uint(buf, a.annual_revenue);
    buf.push(b',');
    buf.extend_from_slice(a.country.as_str().as_bytes());
    buf.push(b'\n');
}

/// One `leads.csv` row.
pub(crate) fn lead_row(buf: &mut Vec<u8>, lead: &Lead) {
    lead_id(buf, lead.index);
    buf.push(b',');
    csv_field(buf, &lead.email);
    buf.push(b',');
    csv_field(buf, lead.first_name);
    buf.push(b',');
    csv_field(buf, lead.last_name);
    buf.push(b',');
    csv_field(buf, lead.title);
    buf.push(b',');
    buf.extend_from_slice(lead.seniority.as_str().as_bytes());
    buf.push(b',');
    buf.extend_from_slice(lead.department.as_str().as_bytes());
    buf.push(b',');
    csv_field(buf, lead.company());
    buf.push(b',');
    if let Some(a) = &lead.account {
        account_id(buf, a.index);
    }
    buf.push(b',');
    buf.extend_from_slice(lead.country.as_str().as_bytes());
    buf.push(b',');
    buf.extend_from_slice(lead.source.as_str().as_bytes());
    buf.push(b',');
    timestamp(buf, lead.created_ms);
    buf.push(b'\n');
}

/// The `outcomes.csv` rows of a lead with an opportunity.
pub(crate) fn outcome_rows(buf: &mut Vec<u8>, lead: &Lead, opportunity: &Opportunity) {
    let row = |buf: &mut Vec<u8>, kind: &str, amount: Option<u64>, at: i64, reason: &str| {
        lead_id(buf, lead.index);
        buf.push(b',');
        csv_field(buf, &lead.email);
        buf.push(b',');
        if let Some(a) = &lead.account {
            account_id(buf, a.index);
        }
        buf.push(b',');
        buf.extend_from_slice(kind.as_bytes());
        buf.push(b',');
        if let Some(amount) = amount {
            uint(buf, amount);
        }
        buf.push(b',');
        timestamp(buf, at);
        buf.push(b',');
        buf.extend_from_slice(reason.as_bytes());
        buf.push(b'\n');
    };
    row(
        buf,
        "opportunity",
        Some(opportunity.amount),
        opportunity.at,
        "",
    );
    match opportunity.close {
        Some(Close::Won { at, amount }) => row(buf, "won", Some(amount), at, ""),
        Some(Close::Lost { at, reason }) => row(buf, "lost", None, at, reason.as_str()),
        None => {}
    }
}

/// Writes Segment messages; holds the per-lead fragments shared by all of a lead's lines.
#[derive(Default)]
pub(crate) struct Emitter {
    /// `"messageId":"m-0000042-` without the sequence number.
    message_prefix: Vec<u8>,
    /// `"anonymousId":"…"`.
    anonymous: Vec<u8>,
    /// `"userId":"lead-…","anonymousId":"…"`.
    identified: Vec<u8>,
    /// `"context":{"library":…,"userAgent":…,"ip":…` without the closing brace.
    context: Vec<u8>,
    path: Vec<u8>,
    url: Vec<u8>,
    previous_url: Vec<u8>,
}

impl Emitter {
    /// Appends the lead's messages, one JSON object per line, and returns how many.
    pub(crate) fn lead_events(&mut self, out: &mut Vec<u8>, lead: &Lead, events: &[Event]) -> u64 {
        self.start_lead(lead);
        let utm = campaign(lead.source, lead.anonymous_id[0]);
        let mut identified = false;
        let mut previous_page = i64::MIN;
        for (n, e) in events.iter().enumerate() {
            identified |= e.action == Action::Identify;
            let kind: &[u8] = match e.action {
                Action::Page { .. } => b"page",
                Action::Track { .. } => b"track",
                Action::Identify => b"identify",
                Action::Group => b"group",
            };
            out.extend_from_slice(b"{\"type\":\"");
            out.extend_from_slice(kind);
            out.extend_from_slice(b"\",");
            out.extend_from_slice(&self.message_prefix);
            uint(out, n as u64 + 1);
            out.extend_from_slice(b"\",\"timestamp\":\"");
            timestamp(out, e.t);
            out.extend_from_slice(b"\",");
            out.extend_from_slice(if identified {
                &self.identified
            } else {
                &self.anonymous
            });

            let mut page_referrer: Option<&[u8]> = None;
            match e.action {
                Action::Page { section, item } => {
                    self.page_path(section, item);
                    let referrer: &[u8] = match e.via {
                        Via::Campaign => utm.map_or(b"", |u| u.referrer.as_bytes()),
                        Via::Search => GOOGLE.as_bytes(),
                        Via::Direct if e.t.saturating_sub(previous_page) <= SAME_VISIT => {
                            &self.previous_url
                        }
                        Via::Direct => b"",
                    };
                    out.extend_from_slice(b",\"name\":\"");
                    out.extend_from_slice(section.page_name().as_bytes());
                    out.extend_from_slice(b"\",\"properties\":{\"path\":\"");
                    out.extend_from_slice(&self.path);
                    out.extend_from_slice(b"\",\"url\":\"");
                    out.extend_from_slice(&self.url);
                    out.extend_from_slice(b"\",\"title\":");
                    page_title(out, section, item);
                    out.extend_from_slice(b",\"referrer\":\"");
                    out.extend_from_slice(referrer);
                    out.extend_from_slice(b"\"}");
                    page_referrer = Some(referrer);
                }
                Action::Track { event, item } => {
                    out.extend_from_slice(b",\"event\":\"");
                    out.extend_from_slice(event.as_str().as_bytes());
                    out.extend_from_slice(b"\",\"properties\":");
                    track_properties(out, event, item);
                }
                Action::Identify => {
                    out.extend_from_slice(b",\"traits\":{\"email\":");
                    json_str(out, &lead.email);
                    out.extend_from_slice(b",\"first_name\":");
                    json_str(out, lead.first_name);
                    out.extend_from_slice(b",\"last_name\":");
                    json_str(out, lead.last_name);
                    out.extend_from_slice(b",\"title\":");
                    json_str(out, lead.title);
                    // No company key rather than an empty one: a missing attribute never
                    // matches a condition, an empty string might.
                    if let Some(a) = &lead.account {
                        out.extend_from_slice(b",\"company\":");
                        json_str(out, &a.name);
                    }
                    out.push(b'}');
                }
                Action::Group => {
                    if let Some(a) = &lead.account {
                        group_fields(out, a);
                    }
                }
            }

            out.push(b',');
            out.extend_from_slice(&self.context);
            if let Some(referrer) = page_referrer {
                out.extend_from_slice(b",\"page\":{\"path\":\"");
                out.extend_from_slice(&self.path);
                out.extend_from_slice(b"\",\"url\":\"");
                out.extend_from_slice(&self.url);
                out.extend_from_slice(b"\",\"referrer\":\"");
                out.extend_from_slice(referrer);
                out.extend_from_slice(b"\"}");
            }
            if e.via == Via::Campaign {
                let email = match e.action {
                    Action::Track {
                        event: TrackEvent::EmailOpened | TrackEvent::EmailClicked,
                        item,
                    } => Some(EMAIL_CAMPAIGNS[usize::from(item)]),
                    _ => None,
                };
                match (email, utm) {
                    (Some(name), _) => campaign_json(out, "newsletter", "email", name),
                    (None, Some(u)) => campaign_json(out, u.source, u.medium, u.name),
                    (None, None) => {}
                }
            }
            out.extend_from_slice(b"}}\n");

            if page_referrer.is_some() {
                previous_page = e.t;
                std::mem::swap(&mut self.previous_url, &mut self.url);
            }
        }
        events.len() as u64
    }

    fn start_lead(&mut self, lead: &Lead) {
        self.message_prefix.clear();
        self.message_prefix.extend_from_slice(b"\"messageId\":\"m-");
        padded(&mut self.message_prefix, lead.index + 1, 7);
        self.message_prefix.push(b'-');

        let mut uuid = Vec::with_capacity(36);
        anonymous_uuid(&mut uuid, lead.anonymous_id);
        self.anonymous.clear();
        self.anonymous.extend_from_slice(b"\"anonymousId\":\"");
        self.anonymous.extend_from_slice(&uuid);
        self.anonymous.push(b'"');
        self.identified.clear();
        self.identified.extend_from_slice(b"\"userId\":\"");
        lead_id(&mut self.identified, lead.index);
        self.identified.extend_from_slice(b"\",");
        self.identified.extend_from_slice(&self.anonymous);

        self.context.clear();
        self.context.extend_from_slice(
            b"\"context\":{\"library\":{\"name\":\"analytics.js\",\"version\":\"2.11.1\"},\"userAgent\":",
        );
        json_str(&mut self.context, lead.user_agent);
        self.context.extend_from_slice(b",\"ip\":\"");
        for (i, octet) in lead.ip.iter().enumerate() {
            if i > 0 {
                self.context.push(b'.');
            }
            uint(&mut self.context, u64::from(*octet));
        }
        self.context.push(b'"');
        self.previous_url.clear();
    }

    /// Sets `path` and `url` for a page.
    fn page_path(&mut self, section: Section, item: u8) {
        self.path.clear();
        match section.items().get(usize::from(item)) {
            Some((slug, _)) if item != NO_ITEM => {
                self.path
                    .extend_from_slice(section.as_str().trim_end_matches('/').as_bytes());
                self.path.push(b'/');
                self.path.extend_from_slice(slug.as_bytes());
            }
            _ => self.path.extend_from_slice(section.as_str().as_bytes()),
        }
        self.url.clear();
        self.url.extend_from_slice(SITE.as_bytes());
        self.url.extend_from_slice(&self.path);
    }
}

fn page_title(out: &mut Vec<u8>, section: Section, item: u8) {
    out.push(b'"');
    match section.items().get(usize::from(item)) {
        Some((_, title)) => out.extend_from_slice(title.as_bytes()),
        None if section == Section::Home => {
            out.extend_from_slice(b"Example SaaS: Lead Qualification Sales Trusts\"")
        }
        None => out.extend_from_slice(section.page_name().as_bytes()),
    }
    if section != Section::Home {
        out.extend_from_slice(b" | Example SaaS\"");
    }
}

fn track_properties(out: &mut Vec<u8>, event: TrackEvent, item: u8) {
    let i = usize::from(item);
    let pair = |out: &mut Vec<u8>, key: &str, value: &str| {
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        json_str(out, value);
        out.push(b'}');
    };
    match event {
        TrackEvent::WhitepaperDownloaded => {
            let (id, title) = WHITEPAPERS[i];
            out.extend_from_slice(b"{\"asset_id\":");
            json_str(out, id);
            out.extend_from_slice(b",\"asset_title\":");
            json_str(out, title);
            out.push(b'}');
        }
        TrackEvent::WebinarRegistered | TrackEvent::WebinarAttended => {
            let (id, title) = WEBINARS[i];
            out.extend_from_slice(b"{\"webinar_id\":");
            json_str(out, id);
            out.extend_from_slice(b",\"title\":");
            json_str(out, title);
            out.push(b'}');
        }
        TrackEvent::DemoRequested => pair(out, "form_id", DEMO_FORMS[i]),
        TrackEvent::TrialStarted => pair(out, "plan", TRIAL_PLANS[i]),
        TrackEvent::EmailOpened | TrackEvent::EmailClicked => {
            pair(out, "campaign_id", EMAIL_CAMPAIGNS[i])
        }
        TrackEvent::NewsletterSubscribed => pair(out, "list", NEWSLETTER_LISTS[i]),
        TrackEvent::CaseStudyViewed => pair(out, "case_study_id", CUSTOMERS[i].0),
    }
}

fn group_fields(out: &mut Vec<u8>, a: &Account) {
    out.extend_from_slice(b",\"groupId\":\"");
    account_id(out, a.index);
    out.extend_from_slice(b"\",\"traits\":{\"name\":");
    json_str(out, &a.name);
    out.extend_from_slice(b",\"domain\":");
    json_str(out, &a.domain);
    out.extend_from_slice(b",\"industry\":");
    json_str(out, a.industry.as_str());
    out.extend_from_slice(b",\"employees\":");
    uint(out, a.employees);
    out.extend_from_slice(b",\"annual_revenue\":");
    uint(out, a.annual_revenue);
    out.extend_from_slice(b",\"country\":\"");
    out.extend_from_slice(a.country.as_str().as_bytes());
    out.extend_from_slice(b"\"}");
}

fn campaign_json(out: &mut Vec<u8>, source: &str, medium: &str, name: &str) {
    out.extend_from_slice(b",\"campaign\":{\"source\":");
    json_str(out, source);
    out.extend_from_slice(b",\"medium\":");
    json_str(out, medium);
    out.extend_from_slice(b",\"name\":");
    json_str(out, name);
    out.push(b'}');
}

/// Formats 16 random bytes as a version-4 UUID, the shape analytics.js gives anonymous ids.
fn anonymous_uuid(buf: &mut Vec<u8>, mut bytes: [u8; 16]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            buf.push(b'-');
        }
        buf.push(HEX[usize::from(b >> 4)]);
        buf.push(HEX[usize::from(b & 0x0f)]);
    }
}
