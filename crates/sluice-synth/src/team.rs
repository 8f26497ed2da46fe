//! The sales organisation that works the company's leads, written as `teams.csv` and
//! `reps.csv`: sales development in New York takes most MQLs, account executives in Berlin the
//! enterprise ones. Its size follows the number of leads, so a rep's day stays a day's work.

use std::io::{self, Write};

/// (first name, last name) of the reps, in the order they are hired.
const PEOPLE: &[(&str, &str)] = &[
    ("Maya", "Chen"),
    ("Omar", "Haddad"),
    ("Lucía", "Romero"),
    ("Jonas", "Weber"),
    ("Priya", "Nair"),
    ("Tom", "Becker"),
    ("Aisha", "Bello"),
    ("Kenji", "Sato"),
    ("Sofia", "Rossi"),
    ("Liam", "Murphy"),
    ("Ines", "Duarte"),
    ("Noah", "Fischer"),
];

/// `teams.csv`: `id,name,time_zone,working_hours,manager`.
pub(crate) fn write_teams(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "id,name,time_zone,working_hours,manager")?;
    writeln!(
        out,
        "sdr,Sales development,America/New_York,Mon-Fri 09:00-17:00,sdr-lead@example.com"
    )?;
    writeln!(
        out,
        "ae,Account executives,Europe/Berlin,Mon-Fri 09:00-17:00,sales-director@example.com"
    )
}

/// `reps.csv`: `id,name,email,team_id,capacity` (capacity: new leads a day). Three sales
/// development reps and one account executive for up to 1,000 leads, one more of each per
/// 350 and 2,000 leads beyond.
pub(crate) fn write_reps(leads: u64, out: &mut dyn Write) -> io::Result<()> {
    let sdrs = 3.max(leads.div_ceil(350)) as usize;
    let aes = 1.max(leads.div_ceil(2000)) as usize;
    writeln!(out, "id,name,email,team_id,capacity")?;
    let mut people = (0..).map(|i: usize| {
        let (first, last) = PEOPLE[i % PEOPLE.len()];
        let round = i / PEOPLE.len();
        let id = ascii_id(first);
        let id = if round == 0 {
            id
        } else {
            format!("{id}{}", round + 1)
        };
        (id, format!("{first} {last}"))
    });
    // The first four keep the ids the demo has always had: maya, omar, lucia (sdr), jonas (ae).
    let teams = ["sdr"; 3]
        .into_iter()
        .chain(["ae"])
        .chain(std::iter::repeat_n("sdr", sdrs - 3))
        .chain(std::iter::repeat_n("ae", aes - 1));
    for team in teams {
        let (id, name) = people.next().expect("an endless list");
        let capacity = if team == "ae" { 10 } else { 25 };
        writeln!(out, "{id},{name},{id}@example.com,{team},{capacity}")?;
    }
    Ok(())
}

/// A first name as an id: lower case ASCII (`Lucía` → `lucia`).
fn ascii_id(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            c => c.to_ascii_lowercase(),
        })
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reps(leads: u64) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        write_reps(leads, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn the_demo_team_keeps_its_people() {
        let reps = reps(1000);
        let ids: Vec<(&str, &str)> = reps
            .iter()
            .map(|r| (r[0].as_str(), r[3].as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("maya", "sdr"),
                ("omar", "sdr"),
                ("lucia", "sdr"),
                ("jonas", "ae")
            ]
        );
    }

    #[test]
    fn the_team_grows_with_the_leads_and_ids_stay_unique() {
        let reps = reps(20_000);
        let sdr = reps.iter().filter(|r| r[3] == "sdr").count();
        let ae = reps.iter().filter(|r| r[3] == "ae").count();
        assert_eq!((sdr, ae), (58, 10));
        let mut ids: Vec<&str> = reps.iter().map(|r| r[0].as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), reps.len());
    }
}
