//! The closed vocabularies the generator draws from: the values other code matches on
//! (seniority, department, industry, ...) and the word lists that make the data look real.

/// An enum over a fixed set of words, with `ALL` in declaration order and `as_str`.
macro_rules! words {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub(crate) enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order (the order of columns in truth.json).
            #[allow(dead_code)] // not every vocabulary is enumerated outside tests
            pub(crate) const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The word as written to the output files.
            pub(crate) fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $word),+ }
            }
        }
    };
}

words!(
    /// How senior a lead is (`leads.csv` column `seniority`).
    Seniority {
        Executive => "executive",
        Vp => "vp",
        Director => "director",
        Manager => "manager",
        Staff => "staff",
        Student => "student",
    }
);

words!(
    /// The lead's function (`leads.csv` column `department`).
    Department {
        Engineering => "engineering",
        It => "it",
        Data => "data",
        Marketing => "marketing",
        Sales => "sales",
        Finance => "finance",
        Operations => "operations",
        Hr => "hr",
        Other => "other",
    }
);

words!(
    /// An account's industry (`accounts.csv` column `industry`).
    Industry {
        Software => "Software",
        FinancialServices => "Financial Services",
        Healthcare => "Healthcare",
        Manufacturing => "Manufacturing",
        Retail => "Retail",
        Education => "Education",
        Government => "Government",
        Media => "Media",
        Consulting => "Consulting",
        NonProfit => "Non-profit",
    }
);

words!(
    /// ISO 3166 country code of an account or lead.
    Country {
        Us => "US",
        Gb => "GB",
        De => "DE",
        Fr => "FR",
        Ca => "CA",
        Au => "AU",
        In => "IN",
        Br => "BR",
        Nl => "NL",
        Se => "SE",
    }
);

words!(
    /// How marketing acquired the lead (`leads.csv` column `lead_source`).
    LeadSource {
        OrganicSearch => "organic_search",
        PaidSearch => "paid_search",
        PaidSocial => "paid_social",
        Webinar => "webinar",
        ContentSyndication => "content_syndication",
        Referral => "referral",
        Event => "event",
        Partner => "partner",
        Direct => "direct",
    }
);

words!(
    /// The `event` name of a Segment `track` call.
    TrackEvent {
        WhitepaperDownloaded => "Whitepaper Downloaded",
        WebinarRegistered => "Webinar Registered",
        WebinarAttended => "Webinar Attended",
        DemoRequested => "Demo Requested",
        TrialStarted => "Trial Started",
        EmailOpened => "Email Opened",
        EmailClicked => "Email Clicked",
        NewsletterSubscribed => "Newsletter Subscribed",
        CaseStudyViewed => "Case Study Viewed",
    }
);

words!(
    /// A part of the marketing site; the word is the path (or path prefix) that truth.json names.
    Section {
        Home => "/",
        Blog => "/blog/",
        Pricing => "/pricing",
        Product => "/product/",
        Docs => "/docs/",
        Customers => "/customers/",
        Careers => "/careers",
        About => "/about",
    }
);

words!(
    /// Why a lost opportunity was lost (`outcomes.csv` column `reason`).
    LostReason {
        NoBudget => "no_budget",
        Competitor => "competitor",
        NoDecision => "no_decision",
        Timing => "timing",
        Price => "price",
    }
);

/// Base URL of the fictional vendor's site.
pub(crate) const SITE: &str = "https://www.example-saas.com";

impl Section {
    /// Segment page `name`.
    pub(crate) fn page_name(self) -> &'static str {
        match self {
            Section::Home => "Home",
            Section::Blog => "Blog",
            Section::Pricing => "Pricing",
            Section::Product => "Product",
            Section::Docs => "Docs",
            Section::Customers => "Customers",
            Section::Careers => "Careers",
            Section::About => "About",
        }
    }

    /// The `(slug, human title)` items under this section; empty for single pages.
    pub(crate) fn items(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Section::Blog => BLOG_POSTS,
            Section::Product => PRODUCT_FEATURES,
            Section::Docs => DOCS_TOPICS,
            Section::Customers => CUSTOMERS,
            // `/careers` itself plus the job pages under it.
            Section::Careers => JOBS,
            Section::Home | Section::Pricing | Section::About => &[],
        }
    }
}

pub(crate) const BLOG_POSTS: &[(&str, &str)] = &[
    ("mql-is-dead", "The MQL Is Dead, Long Live the MQL"),
    ("lead-scoring-101", "Lead Scoring 101"),
    (
        "sales-marketing-alignment",
        "Five Habits of Aligned Sales and Marketing Teams",
    ),
    ("intent-data-explained", "Intent Data, Explained"),
    ("abm-playbook", "An Account-Based Marketing Playbook"),
    ("webinar-benchmarks-2026", "Webinar Benchmarks for 2026"),
    (
        "closing-the-loop",
        "Closing the Loop Between Pipeline and Campaigns",
    ),
    (
        "data-quality-checklist",
        "A Data Quality Checklist for RevOps",
    ),
    ("segment-vs-rudderstack", "Event Pipelines Compared"),
    ("bant-in-practice", "BANT in Practice"),
    ("sla-for-sdrs", "Service Levels for SDR Teams"),
    (
        "pipeline-attribution",
        "Pipeline Attribution Without the Hype",
    ),
    ("product-led-growth", "Product-Led Growth Meets Sales"),
    ("gdpr-for-marketers", "GDPR for Marketers"),
    ("revops-stack-2026", "The RevOps Stack in 2026"),
    (
        "scoring-model-review",
        "How to Review a Scoring Model Like Code",
    ),
];

pub(crate) const PRODUCT_FEATURES: &[(&str, &str)] = &[
    ("scoring", "Lead Scoring"),
    ("routing", "Lead Routing"),
    ("integrations", "Integrations"),
    ("analytics", "Revenue Analytics"),
    ("security", "Security"),
    ("api", "API"),
    ("sla", "SLA Management"),
    ("backtesting", "Backtesting"),
];

pub(crate) const DOCS_TOPICS: &[(&str, &str)] = &[
    ("getting-started", "Getting Started"),
    ("installation", "Installation"),
    ("model-file", "The Model File"),
    ("cel-conditions", "CEL Conditions"),
    ("segment-ingestion", "Segment Ingestion"),
    ("crm-sync", "CRM Sync"),
    ("api-reference", "API Reference"),
    ("sso", "Single Sign-On"),
    ("postgres", "Running on PostgreSQL"),
    ("backtests", "Backtests"),
    ("webhooks", "Webhooks"),
    ("rate-limits", "Rate Limits"),
];

pub(crate) const CUSTOMERS: &[(&str, &str)] = &[
    ("northwind-bank", "Northwind Bank"),
    ("cobalt-health", "Cobalt Health"),
    ("granite-logistics", "Granite Logistics"),
    ("lumen-media", "Lumen Media"),
    ("vertex-software", "Vertex Software"),
    ("harbor-retail", "Harbor Retail"),
    ("summit-insurance", "Summit Insurance"),
    ("beacon-analytics", "Beacon Analytics"),
];

pub(crate) const JOBS: &[(&str, &str)] = &[
    ("senior-rust-engineer", "Senior Rust Engineer"),
    ("product-designer", "Product Designer"),
    ("account-executive", "Account Executive"),
    ("sdr", "Sales Development Representative"),
    ("data-scientist", "Data Scientist"),
    ("marketing-intern", "Marketing Intern"),
    ("customer-success-manager", "Customer Success Manager"),
    ("site-reliability-engineer", "Site Reliability Engineer"),
];

/// Whitepapers: `(asset_id, asset_title)`.
pub(crate) const WHITEPAPERS: &[(&str, &str)] = &[
    ("wp-01", "The State of Lead Qualification 2026"),
    ("wp-02", "Ten Signals That Predict Pipeline"),
    ("wp-03", "The CFO's Guide to Marketing ROI"),
    ("wp-04", "Building a Revenue Data Warehouse"),
    ("wp-05", "Lead Scoring Benchmarks by Industry"),
    ("wp-06", "From MQL to Closed-Won: A Field Guide"),
    ("wp-07", "Intent Data Buyer's Guide"),
    ("wp-08", "The SDR Handbook"),
];

/// Webinars: `(webinar_id, title)`.
pub(crate) const WEBINARS: &[(&str, &str)] = &[
    ("web-2026-01", "Scoring Models That Sales Trusts"),
    (
        "web-2026-02",
        "Live Demo: From Event to MQL in Five Minutes",
    ),
    ("web-2026-03", "Backtesting Your Funnel"),
    ("web-2026-04", "RevOps Office Hours"),
    ("web-2026-05", "Account-Based Everything"),
    ("web-2026-06", "Data Teams and Marketing: Friends at Last"),
];

pub(crate) const EMAIL_CAMPAIGNS: &[&str] = &[
    "nurture-01",
    "nurture-02",
    "nurture-03",
    "nurture-04",
    "product-update-q1",
    "product-update-q2",
    "product-update-q3",
    "webinar-invite",
    "event-followup",
    "trial-onboarding",
    "customer-story",
    "monthly-digest",
];

pub(crate) const NEWSLETTER_LISTS: &[&str] =
    &["weekly-digest", "product-updates", "engineering-blog"];
pub(crate) const DEMO_FORMS: &[&str] = &["form-demo", "form-contact-sales", "form-pricing-quote"];
pub(crate) const TRIAL_PLANS: &[&str] = &["team", "business", "enterprise"];

pub(crate) const PERSONAL_DOMAINS: &[&str] =
    &["gmail.com", "yahoo.com", "outlook.com", "hotmail.com"];

pub(crate) const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Steven",
    "Emily",
    "Andrew",
    "Michelle",
    "Joshua",
    "Amanda",
    "Kevin",
    "Melissa",
    "Brian",
    "Stephanie",
    "George",
    "Rebecca",
    "Oliver",
    "Amelia",
    "Harry",
    "Isla",
    "Jack",
    "Ava",
    "Lukas",
    "Lena",
    "Felix",
    "Hannah",
    "Jonas",
    "Lea",
    "Louis",
    "Chloe",
    "Hugo",
    "Camille",
    "Arthur",
    "Manon",
    "Liam",
    "Olivia",
    "Noah",
    "Charlotte",
    "Ethan",
    "Zoe",
    "Aarav",
    "Priya",
    "Vivaan",
    "Ananya",
    "Rohan",
    "Diya",
    "Arjun",
    "Sneha",
    "Gabriel",
    "Beatriz",
    "Rafael",
    "Mariana",
    "Lucas",
    "Larissa",
    "Daan",
    "Sanne",
    "Sem",
    "Fleur",
    "Erik",
    "Astrid",
    "Nils",
    "Ingrid",
    "Mei",
    "Wei",
    "Hiroshi",
    "Yuki",
    "Omar",
    "Fatima",
    "Mateo",
    "Sofia",
    "Ivan",
    "Elena",
    "Kwame",
    "Amara",
    "Tomas",
    "Nora",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Hill",
    "Campbell",
    "Mitchell",
    "Roberts",
    "Evans",
    "Turner",
    "Collins",
    "Stewart",
    "Morris",
    "Murphy",
    "Cook",
    "Rogers",
    "Patel",
    "Sharma",
    "Gupta",
    "Singh",
    "Kumar",
    "Reddy",
    "Iyer",
    "Nair",
    "Mueller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Dubois",
    "Laurent",
    "Bernard",
    "Moreau",
    "Lefebvre",
    "Girard",
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Costa",
    "Pereira",
    "de Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Smit",
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Larsson",
    "Tanaka",
    "Sato",
    "Chen",
    "Wang",
    "Li",
    "Zhang",
    "Kim",
    "Park",
    "Nguyen",
    "Okafor",
    "Mensah",
    "Kowalski",
    "Novak",
    "O'Brien",
];

/// Account names are `<prefix> [<middle>] <suffix>`; the suffixes are per industry and
/// disjoint, so a `(prefix, middle, industry, suffix index)` tuple names exactly one account.
pub(crate) const ACCOUNT_PREFIXES: &[&str] = &[
    "Northwind",
    "Bluefin",
    "Cobalt",
    "Granite",
    "Summit",
    "Harbor",
    "Quantum",
    "Vertex",
    "Apex",
    "Beacon",
    "Cedar",
    "Crescent",
    "Delta",
    "Ember",
    "Falcon",
    "Gemini",
    "Helix",
    "Ironclad",
    "Juniper",
    "Keystone",
    "Lumen",
    "Maple",
    "Nimbus",
    "Orbit",
    "Pioneer",
    "Quarry",
    "Redwood",
    "Sable",
    "Tidal",
    "Unity",
    "Vantage",
    "Willow",
    "Zenith",
    "Atlas",
    "Birch",
    "Copper",
    "Drift",
    "Evergreen",
    "Fjord",
    "Glacier",
    "Horizon",
    "Indigo",
    "Jasper",
    "Kestrel",
    "Lighthouse",
    "Meridian",
    "Nova",
    "Onyx",
    "Polaris",
    "Riverbend",
    "Silverline",
    "Trident",
    "Upland",
    "Vireo",
    "Westgate",
    "Yarrow",
    "Alder",
    "Brightwater",
    "Clearpath",
    "Dune",
];

/// Optional middle word of an account name (`""` for none), multiplying the distinct names.
pub(crate) const ACCOUNT_MIDDLES: &[&str] = &[
    "", "Ridge", "Bay", "Point", "Valley", "Peak", "Creek", "Stone", "Field", "Grove",
];

/// Number of name suffixes per industry (every list in [`Industry::name_suffixes`] has it).
pub(crate) const SUFFIXES_PER_INDUSTRY: usize = 5;

impl Industry {
    /// Words that end an account name in this industry; disjoint across industries.
    pub(crate) fn name_suffixes(self) -> &'static [&'static str; SUFFIXES_PER_INDUSTRY] {
        match self {
            Industry::Software => &["Software", "Labs", "Systems", "Cloud", "Technologies"],
            Industry::FinancialServices => {
                &["Bank", "Capital", "Financial", "Insurance", "Payments"]
            }
            Industry::Healthcare => &["Health", "Medical", "Clinics", "Care", "Biotech"],
            Industry::Manufacturing => &[
                "Industries",
                "Manufacturing",
                "Motors",
                "Components",
                "Steel",
            ],
            Industry::Retail => &["Retail", "Stores", "Outfitters", "Market", "Goods"],
            Industry::Education => &["University", "College", "Academy", "Learning", "Institute"],
            Industry::Government => &["County", "Agency", "Authority", "Council", "Department"],
            Industry::Media => &["Media", "Studios", "Publishing", "Broadcasting", "News"],
            Industry::Consulting => &["Consulting", "Advisors", "Partners", "Associates", "Group"],
            Industry::NonProfit => &["Foundation", "Trust", "Alliance", "Society", "Fund"],
        }
    }

    /// Typical annual revenue per employee in USD, so revenue tracks headcount plausibly.
    pub(crate) fn revenue_per_employee(self) -> f64 {
        match self {
            Industry::Software => 250_000.0,
            Industry::FinancialServices => 400_000.0,
            Industry::Healthcare => 150_000.0,
            Industry::Manufacturing => 220_000.0,
            Industry::Retail => 180_000.0,
            Industry::Education => 80_000.0,
            Industry::Government => 120_000.0,
            Industry::Media => 200_000.0,
            Industry::Consulting => 160_000.0,
            Industry::NonProfit => 60_000.0,
        }
    }
}

impl Country {
    /// Top-level domain used for account domains in this country.
    pub(crate) fn tld(self) -> &'static str {
        match self {
            Country::Us | Country::Ca | Country::Au | Country::In | Country::Br => "com",
            Country::Gb => "co.uk",
            Country::De => "de",
            Country::Fr => "fr",
            Country::Nl => "nl",
            Country::Se => "se",
        }
    }
}

/// Job titles for a buyer of the given seniority and department (never `Student`).
pub(crate) fn titles(seniority: Seniority, department: Department) -> &'static [&'static str] {
    use Department as D;
    use Seniority as S;
    match (seniority, department) {
        (S::Executive, D::Engineering) => &["Chief Technology Officer", "CTO"],
        (S::Executive, D::It) => &["Chief Information Officer", "CIO"],
        (S::Executive, D::Data) => &["Chief Data Officer", "Chief Analytics Officer"],
        (S::Executive, D::Marketing) => &["Chief Marketing Officer", "CMO"],
        (S::Executive, D::Sales) => &["Chief Revenue Officer", "Chief Sales Officer"],
        (S::Executive, D::Finance) => &["Chief Financial Officer", "CFO"],
        (S::Executive, D::Operations) => &["Chief Operating Officer", "COO"],
        (S::Executive, D::Hr) => &["Chief People Officer", "Chief Human Resources Officer"],
        (S::Executive, D::Other) => &["Chief Executive Officer", "Founder & CEO", "Co-Founder"],
        (S::Vp, D::Engineering) => &[
            "VP of Engineering",
            "VP, Engineering",
            "SVP, Platform Engineering",
        ],
        (S::Vp, D::It) => &[
            "VP of IT",
            "VP, Information Technology",
            "VP, Infrastructure",
        ],
        (S::Vp, D::Data) => &["VP of Data", "VP, Data & Analytics", "VP, Data Platform"],
        (S::Vp, D::Marketing) => &["VP of Marketing", "VP, Demand Generation", "VP Marketing"],
        (S::Vp, D::Sales) => &["VP of Sales", "VP, Sales", "VP, Business Development"],
        (S::Vp, D::Finance) => &["VP of Finance", "VP, Finance & Accounting"],
        (S::Vp, D::Operations) => &["VP of Operations", "VP, Business Operations"],
        (S::Vp, D::Hr) => &["VP of People", "VP, Human Resources"],
        (S::Vp, D::Other) => &["Vice President", "VP, Strategy"],
        (S::Director, D::Engineering) => &[
            "Director of Engineering",
            "Director, Software Engineering",
            "Engineering Director",
        ],
        (S::Director, D::It) => &[
            "IT Director",
            "Director, IT Operations",
            "Director of Infrastructure",
        ],
        (S::Director, D::Data) => &[
            "Director, Data Platform",
            "Director of Analytics",
            "Director, Data Engineering",
        ],
        (S::Director, D::Marketing) => &[
            "Marketing Director",
            "Director, Marketing Operations",
            "Director of Growth",
        ],
        (S::Director, D::Sales) => &["Sales Director", "Director, Sales Operations"],
        (S::Director, D::Finance) => &["Finance Director", "Director, FP&A"],
        (S::Director, D::Operations) => &["Director of Operations", "Operations Director"],
        (S::Director, D::Hr) => &["HR Director", "Director, Talent Acquisition"],
        (S::Director, D::Other) => &["Director", "Director, Strategy"],
        (S::Manager, D::Engineering) => &[
            "Engineering Manager",
            "Software Development Manager",
            "Manager, Platform Engineering",
        ],
        (S::Manager, D::It) => &[
            "IT Manager",
            "Infrastructure Manager",
            "Manager, IT Operations",
        ],
        (S::Manager, D::Data) => &[
            "Data Engineering Manager",
            "Analytics Manager",
            "Manager, Business Intelligence",
        ],
        (S::Manager, D::Marketing) => &[
            "Marketing Manager",
            "Demand Generation Manager",
            "Product Marketing Manager",
        ],
        (S::Manager, D::Sales) => &["Sales Manager", "Regional Sales Manager", "Account Manager"],
        (S::Manager, D::Finance) => &["Finance Manager", "Accounting Manager"],
        (S::Manager, D::Operations) => {
            &["Operations Manager", "Project Manager", "Program Manager"]
        }
        (S::Manager, D::Hr) => &["HR Manager", "Recruiting Manager"],
        (S::Manager, D::Other) => &["Office Manager", "General Manager"],
        (S::Staff, D::Engineering) => &[
            "Software Engineer",
            "Senior Software Engineer",
            "Backend Developer",
            "DevOps Engineer",
            "Site Reliability Engineer",
        ],
        (S::Staff, D::It) => &[
            "Systems Administrator",
            "IT Specialist",
            "Network Engineer",
            "IT Support Analyst",
        ],
        (S::Staff, D::Data) => &[
            "Data Analyst",
            "Data Engineer",
            "Data Scientist",
            "Analytics Engineer",
        ],
        (S::Staff, D::Marketing) => &[
            "Marketing Specialist",
            "Content Marketer",
            "Marketing Coordinator",
            "SEO Specialist",
        ],
        (S::Staff, D::Sales) => &[
            "Account Executive",
            "Sales Development Representative",
            "Business Development Representative",
        ],
        (S::Staff, D::Finance) => &["Accountant", "Financial Analyst"],
        (S::Staff, D::Operations) => &["Operations Analyst", "Operations Coordinator"],
        (S::Staff, D::Hr) => &[
            "HR Generalist",
            "Recruiter",
            "Talent Acquisition Specialist",
        ],
        (S::Staff, D::Other) => &["Analyst", "Associate", "Administrative Assistant"],
        (S::Student, _) => STUDENT_TITLES,
    }
}

pub(crate) const STUDENT_TITLES: &[&str] = &[
    "Student",
    "Graduate Student",
    "PhD Candidate",
    "MBA Candidate",
    "Computer Science Student",
];

pub(crate) const CONSULTANT_TITLES: &[&str] = &[
    "Independent Consultant",
    "Freelance Consultant",
    "Consultant",
    "Self-employed",
];

pub(crate) const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36 Edg/128.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
];

/// First octets of the fake client addresses: plausible public ranges, never private ones.
pub(crate) const IP_FIRST_OCTETS: &[u8] = &[
    24, 31, 37, 45, 62, 66, 71, 78, 81, 86, 91, 98, 103, 110, 122, 131, 151, 176, 185, 189, 203,
    212,
];
