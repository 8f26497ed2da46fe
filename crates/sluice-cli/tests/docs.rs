//! The shell examples of README.md and docs/*.md, run as a reader would run them.
//!
//! Every fenced block with the info string `console` or `sh` is run with `bash`, in a scratch
//! directory per document set up like a user's: the `sluice` under test first on `PATH`, the
//! repository's `examples/`, a generated company's files (`sluice generate --leads 2000 --seed 42
//! --end 2026-10-01`) where an example names them, and the files the examples use
//! ([`fixtures`]). A document whose examples talk to the service (they name `127.0.0.1:7878`,
//! `$URL` or its database, `sluice.db`) gets the demo's `sluice.db` (seeded once by `sluice serve
//! --demo`, copied per document) and, from the first block that talks to it, a fresh `sluice
//! serve --demo` on it; its placeholders stand for the service's address, admin token and write
//! key.
//!
//! In a `console` block, a line starting with `$ ` is a command (a trailing `\` continues it on
//! the next line) and the lines after it, up to the next command, are what it prints (stdout and
//! stderr as a terminal shows them). A command must exit 0 and print exactly that, where `...`
//! in a line matches any text and a line that is only `...` any number of lines; a command
//! whose output shows an `error:` line must fail and print it. In an `sh` block every line that
//! is not a comment is a command that must exit 0 (`curl` fails on an HTTP error, and prints no
//! progress meter, as on a terminal). A block that cannot run here is marked on
//! the line before its fence with `<!-- not tested: REASON -->`; any other command example (a
//! `$ ` line in a block of another kind) is a failure, so every example is run or says why not.

use std::fmt::Write as _;
use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The company the examples' files come from, as README.md and docs/backtest.md say.
const COMPANY: &[&str] = &[
    "generate",
    "--leads",
    "2000",
    "--seed",
    "42",
    "--end",
    "2026-10-01",
];
const COMPANY_FILES: &[&str] = &[
    "accounts.csv",
    "leads.csv",
    "events.jsonl",
    "outcomes.csv",
    "teams.csv",
    "reps.csv",
    "truth.json",
];
/// The service's address as the documents write it.
const ADDRESS: &str = "127.0.0.1:7878";
const ADMIN_TOKEN: &str = "docs-admin-token";
const WRITE_KEY: &str = "docs-write-key";
/// Longest a command may run.
const COMMAND_TIME: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository")
}

/// A command of an example, with the line it starts on.
#[derive(Debug)]
struct Example {
    line: usize,
    command: String,
    /// What it prints (`console`), or `None` when not shown (`sh`).
    output: Option<Vec<String>>,
}

/// A fenced block that runs, or says why it does not.
#[derive(Debug)]
struct Block {
    line: usize,
    not_tested: Option<String>,
    examples: Vec<Example>,
}

/// The runnable blocks of a Markdown document, and its mistakes (a block neither runnable nor
/// marked, a marker without a reason) as `line: message`.
fn blocks(text: &str) -> (Vec<Block>, Vec<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut mistakes = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].strip_prefix("```") else {
            i += 1;
            continue;
        };
        let fence = i + 1;
        let kind = info.split_whitespace().next().unwrap_or("").to_string();
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && !lines[end].starts_with("```") {
            end += 1;
        }
        let body = &lines[start..end];
        i = end + 1;
        let marker = i_before(&lines, fence).and_then(|l| {
            l.trim()
                .strip_prefix("<!-- not tested:")
                .and_then(|r| r.strip_suffix("-->"))
                .map(|r| r.trim().to_string())
        });
        if marker.as_deref() == Some("") {
            mistakes.push(format!(
                "{fence}: `<!-- not tested: -->` needs a reason after the colon"
            ));
        }
        let examples = match kind.as_str() {
            "console" => console(body, start + 1, &mut mistakes),
            "sh" => sh(body, start + 1),
            _ => {
                if marker.is_none() && body.iter().any(|l| l.starts_with("$ ")) {
                    mistakes.push(format!(
                        "{fence}: a command example in a ```{kind} block: make it a `console` \
                         block, or mark it `<!-- not tested: REASON -->`"
                    ));
                }
                continue;
            }
        };
        blocks.push(Block {
            line: fence,
            not_tested: marker,
            examples,
        });
    }
    (blocks, mistakes)
}

/// The line just before the fence on line `fence` (1-based).
fn i_before<'a>(lines: &[&'a str], fence: usize) -> Option<&'a str> {
    fence.checked_sub(2).map(|i| lines[i])
}

/// A command's lines from `lines[*i]`, joined as bash joins `\` continuations; advances `i`.
fn command(lines: &[&str], i: &mut usize, first: &str) -> String {
    let mut command = first.to_string();
    while command.ends_with('\\') && *i + 1 < lines.len() {
        *i += 1;
        command.push('\n');
        command.push_str(lines[*i]);
    }
    command
}

fn console(body: &[&str], first_line: usize, mistakes: &mut Vec<String>) -> Vec<Example> {
    let mut examples: Vec<Example> = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let line = body[i];
        if let Some(first) = line.strip_prefix("$ ") {
            let at = first_line + i;
            let command = command(body, &mut i, first);
            examples.push(Example {
                line: at,
                command,
                output: Some(Vec::new()),
            });
        } else if let Some(last) = examples.last_mut() {
            last.output
                .as_mut()
                .expect("console output")
                .push(line.to_string());
        } else if !line.trim().is_empty() {
            mistakes.push(format!(
                "{}: output before any `$ ` command in a console block",
                first_line + i
            ));
        }
        i += 1;
    }
    examples
}

fn sh(body: &[&str], first_line: usize) -> Vec<Example> {
    let mut examples = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let line = body[i];
        if !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            let at = first_line + i;
            examples.push(Example {
                line: at,
                command: command(body, &mut i, line),
                output: None,
            });
        }
        i += 1;
    }
    examples
}

/// Whether `printed` is what `expected` shows: `...` in a line matches any text, a line that is
/// only `...` any number of lines. Trailing spaces do not count.
fn matches(expected: &[String], printed: &[&str]) -> bool {
    match expected.split_first() {
        None => printed.is_empty(),
        Some((first, rest)) if first.trim() == "..." => {
            (0..=printed.len()).any(|skip| matches(rest, &printed[skip..]))
        }
        Some((first, rest)) => printed.split_first().is_some_and(|(line, more)| {
            line_matches(first.trim_end(), line) && matches(rest, more)
        }),
    }
}

fn line_matches(expected: &str, printed: &str) -> bool {
    let printed = printed.trim_end();
    let mut parts = expected.split("...");
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = printed.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// `sluice serve --demo` on `sluice.db` in a document's directory, stopped when dropped.
struct Service {
    child: Child,
    address: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// Starts `sluice serve --demo` in `dir` and waits until it is ready.
    fn start(dir: &Path) -> Service {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let address = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("serve.log")).expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args([
                "serve",
                "--demo",
                "--db",
                "sqlite://sluice.db",
                "--bind",
                &address,
            ])
            .args(["--admin-token", ADMIN_TOKEN, "--write-key", WRITE_KEY])
            .args(["--rescore-every", "never", "--sla-every", "never"])
            .current_dir(dir)
            .env_clear()
            .envs(base_env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sluice serve starts");
        let mut service = Service { child, address };
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = service.child.try_wait() {
                panic!(
                    "sluice serve --demo exited ({status}):\n{}",
                    std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
                );
            }
            if ready(&service.address) {
                return service;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("sluice serve --demo did not become ready");
    }

    /// Puts a copy of the demo database in `dir` as `sluice.db`, as a reader has it after
    /// `sluice serve --demo`. The demo company is seeded once (a minute's work in a debug
    /// build), and each document's service starts on its own copy, where `--demo` finds its
    /// data present.
    fn demo_database(dir: &Path) {
        static SEEDED: OnceLock<tempfile::TempDir> = OnceLock::new();
        let seeded = SEEDED.get_or_init(|| {
            let seeded = tempfile::tempdir().expect("a temporary directory");
            drop(Service::start(seeded.path()));
            seeded
        });
        for entry in std::fs::read_dir(seeded.path()).expect("the seeded database") {
            let name = entry.expect("a file").file_name();
            if name.to_string_lossy().starts_with("sluice.db") {
                std::fs::copy(seeded.path().join(&name), dir.join(&name)).expect("a copy");
            }
        }
    }
}

/// Whether `GET /readyz` answers 200, over a bare socket.
fn ready(address: &str) -> bool {
    use std::io::Write as _;
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(
        stream,
        "GET /readyz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// The environment every command starts from: the caller's, without Sluice's settings, with
/// the binary under test first on `PATH`.
fn base_env() -> Vec<(String, String)> {
    let bin = Path::new(env!("CARGO_BIN_EXE_sluice"))
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    let path = std::env::var("PATH").unwrap_or_default();
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| !k.starts_with("SLUICE_") && k != "PATH")
        .collect();
    env.push(("PATH".into(), format!("{}:{path}", bin.display())));
    env.push(("NO_COLOR".into(), "1".into()));
    env
}

/// Makes `curl` print what it prints on a terminal: the answer, without a progress meter
/// (which it draws on stderr when its output is not a terminal), errors still shown; and fail
/// on an HTTP error, as the examples' commands must succeed.
fn curl_as_on_a_terminal(dir: &Path, env: &mut Vec<(String, String)>) {
    std::fs::write(dir.join(".curlrc"), "silent\nshow-error\nfail-with-body\n").expect("a .curlrc");
    env.push(("CURL_HOME".into(), dir.display().to_string()));
}

/// The company's files, generated once for every document.
fn company() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(COMPANY)
            .args(["--out", "."])
            .current_dir(dir.path())
            .env_remove("SLUICE_DATABASE_URL")
            .output()
            .expect("sluice generate runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

/// Files the examples name that a reader would have made: each is described where it is used.
fn fixtures(dir: &Path) {
    let example = std::fs::read_to_string(repo().join("examples/model.toml")).expect("the model");
    // README.md: a model with one mistake (`=` for `==`).
    let broken = example.replace(
        "lead.seniority == 'director'",
        "lead.seniority = 'director'",
    );
    assert_ne!(
        broken, example,
        "the director rule of examples/model.toml moved"
    );
    std::fs::write(dir.join("broken.toml"), broken).unwrap();
    // README.md: a proposal with four changes.
    let mut proposal = example
        .replacen("version = \"2026.10.1\"", "version = \"2026.11.1\"", 1)
        .replacen("mql = 100", "mql = 80", 1);
    proposal = replace_in_rule(&proposal, "demo-request", "points = 50", "points = 60");
    proposal.push_str(
        "\n[[engagement.rules]]\nid = \"integration-docs\"\n\
         description = \"Read the integration guides.\"\nevent = \"page\"\n\
         when = \"event.properties.path.startsWith('/docs/integrations')\"\npoints = 10\n",
    );
    std::fs::write(dir.join("proposal.toml"), proposal).unwrap();
    // docs/learn.md, docs/service.md: the model file a reader keeps.
    std::fs::write(dir.join("model.toml"), &example).unwrap();
    // docs/security.md: a password for `--password-stdin`.
    std::fs::write(dir.join("pw.txt"), "a long passphrase\n").unwrap();
    // docs/import.md: a HubSpot users export naming two teams the database does not have.
    std::fs::write(
        dir.join("hubspot-users.csv"),
        "User ID,First Name,Last Name,Email,Teams,Deactivated\n\
         101,Omar,Haddad,omar.h@example.com,EMEA Sales; Partners,false\n\
         102,Ines,Keller,ines@example.com,Partners,false\n\
         103,Sam,Osei,sam@example.com,EMEA Sales,true\n",
    )
    .unwrap();
    // docs/import.md: a HubSpot export with a short row.
    std::fs::write(
        dir.join("hubspot.csv"),
        "Email,First Name,Last Name,Job Title,Company\n\
         ada@example.com,Ada,Lovelace,CTO,Analytical Engines\n\
         grace@example.com,Grace,Hopper,VP Engineering,Navy\n\
         alan@example.com,Alan\n\
         karen@example.com,Karen,Jones,Director of Data,Cambridge\n\
         edsger@example.com,Edsger,Dijkstra,Engineer,Eindhoven\n",
    )
    .unwrap();
}

/// `text` with `from` replaced by `to` in the rule `id` only.
fn replace_in_rule(text: &str, id: &str, from: &str, to: &str) -> String {
    let at = text
        .find(&format!("id = \"{id}\""))
        .unwrap_or_else(|| panic!("rule {id} in examples/model.toml"));
    let (head, tail) = text.split_at(at);
    assert!(tail.contains(from), "{from} in rule {id}");
    format!("{head}{}", tail.replacen(from, to, 1))
}

/// Copies the repository's `examples/` and the company files the document names into `dir`.
fn set_up(dir: &Path, text: &str) {
    std::fs::create_dir(dir.join("examples")).unwrap();
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join("examples").join(entry.file_name())).unwrap();
    }
    for file in COMPANY_FILES {
        if text.contains(file) {
            std::fs::copy(company().join(file), dir.join(file)).unwrap();
        }
    }
    fixtures(dir);
}

/// `text` with every whole-word `word` replaced by `by` (so `ADMIN_TOKEN` stands for the token,
/// and `$SLUICE_ADMIN_TOKEN` stays a variable).
fn replace_word(text: &str, word: &str, by: &str) -> String {
    let word_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().last().or_else(|| out.chars().last());
        let after = rest[at + word.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(word_char) || after.is_some_and(word_char) {
            out.push_str(word);
        } else {
            out.push_str(by);
        }
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

/// What ran: the exit status (`None`: stopped after [`COMMAND_TIME`]) and the output.
fn run(dir: &Path, env: &[(String, String)], command: &str) -> (Option<i32>, String) {
    use std::os::unix::process::CommandExt as _;
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!("exec 2>&1\n{command}"))
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("bash runs");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let deadline = Instant::now() + COMMAND_TIME;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for bash") {
            break status.code();
        }
        if Instant::now() > deadline {
            // Its process group (bash's own pid). Not `kill -s KILL -- -PGID`: procps-ng
            // 4.0's kill sends a negative pid's signal to every process it may signal.
            let group = libc::pid_t::try_from(child.id()).expect("a pid");
            if group > 1 {
                // SAFETY: killpg only sends a signal, to the group made at bash's spawn.
                unsafe {
                    libc::killpg(group, libc::SIGKILL);
                }
            }
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let bytes = reader.join().expect("the output");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Whether a block's examples talk to the service: they name its address (`127.0.0.1:7878`,
/// `$URL`) or its database (`sluice.db`).
fn talks_to_service(block: &Block) -> bool {
    block.examples.iter().any(|e| {
        ["127.0.0.1:7878", "$URL", "sluice.db"]
            .iter()
            .any(|w| e.command.contains(w))
    })
}

/// Runs one document's examples; returns its failures.
fn check(name: &str, text: &str) -> Vec<String> {
    let (blocks, mistakes) = blocks(text);
    let mut failures: Vec<String> = mistakes
        .into_iter()
        .map(|m| format!("{name}:{m}"))
        .collect();
    let runnable: Vec<&Block> = blocks.iter().filter(|b| b.not_tested.is_none()).collect();
    if runnable.is_empty() {
        return failures;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let d = dir.path();
    set_up(d, text);
    let mut env = base_env();
    curl_as_on_a_terminal(d, &mut env);
    let mut words: Vec<(&str, String)> = Vec::new();
    let mut service: Option<Service> = None;
    if runnable.iter().any(|b| talks_to_service(b)) {
        Service::demo_database(d);
    }
    for block in runnable {
        // The service starts with the first block that talks to it, on the demo database as
        // the examples before it left it (they write it directly, as no service runs yet).
        if service.is_none() && talks_to_service(block) {
            let started = Service::start(d);
            let url = format!("http://{}", started.address);
            for (k, v) in [
                ("SLUICE_ADMIN_TOKEN", ADMIN_TOKEN),
                ("SLUICE_WRITE_KEY", WRITE_KEY),
                ("SLUICE_TOKEN", ADMIN_TOKEN),
                ("TOKEN", ADMIN_TOKEN),
                ("URL", url.as_str()),
            ] {
                env.push((k.to_string(), v.to_string()));
            }
            words = vec![
                (ADDRESS, started.address.clone()),
                ("ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
                ("WRITE_KEY", WRITE_KEY.to_string()),
            ];
            service = Some(started);
        }
        let substitute = |text: &str| {
            words
                .iter()
                .fold(text.to_string(), |t, (w, by)| replace_word(&t, w, by))
        };
        for example in &block.examples {
            let command = substitute(&example.command);
            let (status, printed) = run(d, &env, &command);
            let expected: Option<Vec<String>> = example
                .output
                .as_ref()
                .map(|lines| lines.iter().map(|l| substitute(l)).collect());
            let fails = expected
                .as_ref()
                .is_some_and(|e| e.iter().any(|l| l.starts_with("error:")));
            let printed_lines: Vec<&str> = printed.lines().collect();
            let status_ok = if fails {
                status.is_some_and(|s| s != 0)
            } else {
                status == Some(0)
            };
            let output_ok = expected.as_ref().is_none_or(|e| matches(e, &printed_lines));
            if status_ok && output_ok {
                continue;
            }
            let mut report = format!(
                "{name}:{} (the block at line {}): $ {}\n",
                example.line, block.line, example.command
            );
            let want = if fails { "to fail" } else { "exit status 0" };
            match status {
                Some(code) => writeln!(report, "expected {want}, got exit status {code}").unwrap(),
                None => writeln!(report, "stopped after {} s", COMMAND_TIME.as_secs()).unwrap(),
            }
            if let Some(expected) = &expected {
                report.push_str("expected output:\n");
                for line in expected {
                    writeln!(report, "    {line}").unwrap();
                }
            }
            report.push_str("printed:\n");
            for line in &printed_lines {
                writeln!(report, "    {line}").unwrap();
            }
            failures.push(report);
        }
    }
    drop(service);
    failures
}

/// README.md and docs/*.md, in that order.
fn documents() -> Vec<(String, String)> {
    let root = repo();
    let mut names = vec!["README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    names.extend(docs);
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(root.join(&n)).expect("a document");
            (n, text)
        })
        .collect()
}

#[test]
fn the_documents_examples_run_as_written() {
    let only = std::env::var("SLUICE_DOCS_ONLY").ok();
    // Each document in its own directory and thread; they share the seeded demo database.
    let runs: Vec<_> = documents()
        .into_iter()
        .filter(|(name, _)| only.as_deref().is_none_or(|o| name.contains(o)))
        .map(|(name, text)| {
            std::thread::spawn(move || {
                let started = Instant::now();
                let failures = check(&name, &text);
                println!("{name}: {:.1} s", started.elapsed().as_secs_f64());
                failures
            })
        })
        .collect();
    let failures: Vec<String> = runs
        .into_iter()
        .flat_map(|run| run.join().expect("a document's examples ran"))
        .collect();
    assert!(
        failures.is_empty(),
        "{} examples do not run as written:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn expected_output_matches_with_ellipses() {
    let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
    assert!(matches(&lines("a\nb"), &["a", "b"]));
    assert!(!matches(&lines("a"), &["a", "b"]));
    assert!(matches(&lines("a\n...\nd"), &["a", "b", "c", "d"]));
    assert!(matches(&lines("a\n...\nb"), &["a", "b"]));
    assert!(matches(&lines("x ... z"), &["x y z"]));
    assert!(matches(&lines("x ..."), &["x yz"]));
    assert!(!matches(&lines("x ... z"), &["x y"]));
    assert!(matches(&lines("... and 72 more"), &["... and 72 more"]));
    assert!(!matches(&lines("ab...b"), &["ab"]));
    assert!(matches(&lines("a...b...c"), &["a1b2c"]));
    assert_eq!(
        replace_word("$SLUICE_ADMIN_TOKEN ADMIN_TOKEN", "ADMIN_TOKEN", "t"),
        "$SLUICE_ADMIN_TOKEN t"
    );
    assert_eq!(replace_word("-u WRITE_KEY: x", "WRITE_KEY", "k"), "-u k: x");
}

#[test]
fn blocks_are_read_as_documented() {
    let text = "# T\n\n```console\n$ a \\\n    b\nout\n...\n$ c\n```\n\n<!-- not tested: needs X -->\n```sh\n# note\nd\n```\n\n```text\n$ e\n```\n";
    let (blocks, mistakes) = blocks(text);
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].line, 3);
    assert_eq!(blocks[0].examples[0].command, "a \\\n    b");
    assert_eq!(
        blocks[0].examples[0].output.as_deref(),
        Some(&["out".to_string(), "...".to_string()][..])
    );
    assert_eq!(blocks[0].examples[1].line, 8);
    assert_eq!(blocks[1].not_tested.as_deref(), Some("needs X"));
    assert_eq!(blocks[1].examples[0].command, "d");
    assert_eq!(mistakes.len(), 1, "{mistakes:?}");
    assert!(mistakes[0].starts_with("17:"), "{mistakes:?}");
}
