//! The expiry record of our logins, one entry per pip configuration file. It never holds a token: the repository
//! endpoint is stored without credentials, and an endpoint with userinfo is refused.
//!
//! A small JSON file (default `$XDG_STATE_HOME/ca-login/state.json`, i.e. `~/.local/state/ca-login/state.json`),
//! mode 0600, changed by read-modify-write under the same sibling lock and atomic write as pip's files
//! ([`crate::files`]). It is never reached through a link: root's own state file cannot be redirected. A file we
//! cannot read as ours (garbage, another version, over 1 MiB, a link, a FIFO) makes `status` say so, and the
//! next login replaces it.

// `Error` is the crate's one (large) error enum; boxing it is the lead's call, for the whole crate.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files;

/// The format version written in the file.
pub const STATE_VERSION: u32 = 1;

/// `$XDG_STATE_HOME/ca-login/state.json` (`~/.local/state/ca-login/state.json` when unset).
pub fn default_path() -> PathBuf {
    let base = dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local").join("state")))
        .unwrap_or_else(|| PathBuf::from(".local/state"));
    base.join("ca-login").join("state.json")
}

/// One login: which pip file holds our index URL, for which repository, until when.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `"pip"`.
    pub tool: String,
    /// The absolute path of the pip configuration file we wrote.
    pub config_file: PathBuf,
    /// The repository endpoint, without credentials.
    pub repository_endpoint: String,
    pub domain: String,
    #[serde(default)]
    pub domain_owner: Option<String>,
    pub repository: String,
    pub region: String,
    /// Token expiry, epoch seconds.
    pub expires_at: i64,
    /// When the token was issued (our clock), epoch seconds.
    pub issued_at: i64,
    /// The index URL the file had before our first login (restored on logout). May hold the user's own
    /// credentials for another index: `Debug` masks it.
    #[serde(default)]
    pub previous_index_url: Option<String>,
    /// Whether the file had an index URL before our first login.
    #[serde(default)]
    pub had_previous: bool,
    /// Where the token is: `"url"` (in this file) or `"netrc"` (the file holds the URL only).
    #[serde(default = "default_token_store")]
    pub token_store: String,
    /// The repository was added as an extra index (uv: an `[[index]]` without `default`).
    #[serde(default)]
    pub extra_index: bool,
    /// The login created the file: logout removes it when nothing of the user's is left.
    #[serde(default)]
    pub created: bool,
    /// Poetry's source name.
    #[serde(default)]
    pub source: Option<String>,
}

fn default_token_store() -> String {
    "url".into()
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("tool", &self.tool)
            .field("config_file", &self.config_file)
            .field(
                "repository_endpoint",
                &crate::secret::mask_url(&self.repository_endpoint),
            )
            .field("domain", &self.domain)
            .field("domain_owner", &self.domain_owner)
            .field("repository", &self.repository)
            .field("region", &self.region)
            .field("expires_at", &self.expires_at)
            .field("issued_at", &self.issued_at)
            .field(
                "previous_index_url",
                &self
                    .previous_index_url
                    .as_deref()
                    .map(crate::secret::mask_url),
            )
            .field("had_previous", &self.had_previous)
            .field("token_store", &self.token_store)
            .field("extra_index", &self.extra_index)
            .field("created", &self.created)
            .field("source", &self.source)
            .finish()
    }
}

impl Entry {
    /// Seconds until the token expires (negative once expired).
    pub fn expires_in(&self, now: i64) -> i64 {
        self.expires_at - now
    }

    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at <= now
    }
}

fn default_version() -> u32 {
    STATE_VERSION
}

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(default = "default_version")]
    pub version: u32,
    /// Keyed by the pip configuration file's absolute path.
    #[serde(default)]
    pub entries: BTreeMap<String, Entry>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            entries: BTreeMap::new(),
        }
    }
}

/// The key of a pip configuration file: its absolute path (not canonicalized: the file may not exist).
pub fn key_for(config_file: &Path) -> String {
    std::path::absolute(config_file)
        .unwrap_or_else(|_| config_file.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

impl State {
    /// The entry for a pip configuration file (relative paths are taken from the current directory).
    pub fn get(&self, config_file: &Path) -> Option<&Entry> {
        self.entries.get(&key_for(config_file))
    }

    /// All entries, by configuration file path.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }
}

fn corrupt(path: &Path, what: String) -> Error {
    Error::config(
        path,
        format!("not a valid ca-login state file ({what})"),
        format!(
            "delete {} (it holds only login expiry times; the next login recreates it)",
            path.display()
        ),
    )
}

/// Reads the state file (never through a link, at most 1 MiB, a regular file); a missing file is an empty state.
/// A file we cannot use as ours is a `Config` error whose message names the position only (never the content).
pub fn load(path: &Path) -> Result<State> {
    let bytes = match files::read_bytes_nofollow(path, "read the ca-login state file") {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(State::default()),
        Err(e) => {
            let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            return Err(if link {
                corrupt(path, "a symbolic link, not a regular file".into())
            } else {
                e
            });
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(State::default());
    }
    let state = serde_json::from_slice::<State>(&bytes).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "unexpected content",
            serde_json::error::Category::Eof => "truncated",
        };
        corrupt(
            path,
            format!("{kind} at line {} column {}", e.line(), e.column()),
        )
    })?;
    if state.version != STATE_VERSION {
        return Err(corrupt(
            path,
            format!(
                "format version {}, this ca-login reads {STATE_VERSION}",
                state.version
            ),
        ));
    }
    if let Some(what) = state.entries.iter().find_map(|(k, e)| odd_entry(k, e)) {
        return Err(corrupt(path, what));
    }
    Ok(state)
}

/// The times a record may hold: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z (what every renderer of a time,
/// Python's `datetime` too, can show).
pub const EPOCH_RANGE: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// A control or bidirectional-formatting character: never in a record we wrote, and printed as is it could rewrite
/// the terminal or log of whoever runs `status` (root, for `--user`, reads the user's own state file).
fn unprintable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Why a record is not one we wrote (a time out of years 1..9999, a control character in a text field, an
/// endpoint that is not a plain http(s) URL, a source that is not a Poetry source name), if so.
/// `previous_index_url` is the user's own value, put back byte for byte at logout and printed only through
/// `mask_url` (which shows control characters as escapes): not checked.
fn odd_entry(key: &str, e: &Entry) -> Option<String> {
    for (name, t) in [("expires_at", e.expires_at), ("issued_at", e.issued_at)] {
        if !EPOCH_RANGE.contains(&t) {
            return Some(format!(
                "unexpected content: {name} {t} is not a time between the years 1 and 9999"
            ));
        }
    }
    // Both go into commands printed for pasting (`poetry source add NAME URL`): only what a real one holds.
    let url_char = |c: char| c.is_ascii_alphanumeric() || "-._~:/%[]".contains(c);
    if crate::settings::validate_http_url("repository_endpoint", &e.repository_endpoint).is_err()
        || !e.repository_endpoint.chars().all(url_char)
    {
        return Some("unexpected content: repository_endpoint is not a repository URL".into());
    }
    if e.source
        .as_deref()
        .is_some_and(|s| crate::files::toml::check_source(s).is_err())
    {
        return Some("unexpected content: source is not a Poetry source name".into());
    }
    let path = e.config_file.to_string_lossy();
    let texts = [
        ("key", Some(key)),
        ("tool", Some(e.tool.as_str())),
        ("config_file", Some(path.as_ref())),
        ("repository_endpoint", Some(e.repository_endpoint.as_str())),
        ("domain", Some(e.domain.as_str())),
        ("domain_owner", e.domain_owner.as_deref()),
        ("repository", Some(e.repository.as_str())),
        ("region", Some(e.region.as_str())),
        ("token_store", Some(e.token_store.as_str())),
        ("source", e.source.as_deref()),
    ];
    let bad = texts
        .into_iter()
        .find(|(_, v)| v.is_some_and(|v| v.chars().any(unprintable)))
        .map(|(name, _)| format!("unexpected content: a control character in {name}"));
    bad
}

/// [`load`] for a writer: a file we cannot use as ours is logged as a warning and replaced by an empty state.
pub fn load_or_replace(path: &Path) -> State {
    match load(path) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("{e}\nthe next write replaces it");
            State::default()
        }
    }
}

/// Before any network call: nothing at the state path (or its lock) that a write could not replace: a directory,
/// FIFO, device or socket is a `Config` error naming it.
pub fn check_writable(path: &Path) -> Result<()> {
    files::check_not_special(path, "write the ca-login state file")?;
    files::check_lock(path)
}

fn has_userinfo(url: &str) -> bool {
    let rest = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => url,
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority.contains('@')
}

fn save(path: &Path, state: &State) -> Result<()> {
    let mut text = serde_json::to_string_pretty(state).map_err(|e| {
        Error::config(
            path,
            format!("cannot encode the state: {e}"),
            "please report this as a bug",
        )
    })?;
    text.push('\n');
    files::write_atomic_nofollow(path, &text)
}

fn modify<T>(path: &Path, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
    let _lock = files::lock(path)?;
    let mut state = load_or_replace(path);
    let out = f(&mut state)?;
    save(path, &state)?;
    Ok(out)
}

/// Records a login (read-modify-write under the lock, written atomically with mode 0600). An existing entry for
/// the same configuration file keeps its `previous_index_url` and `had_previous`: the value before our *first*
/// login is the one to restore. Returns the entry as stored.
pub fn record(path: &Path, mut entry: Entry) -> Result<Entry> {
    if has_userinfo(&entry.repository_endpoint) {
        return Err(Error::config(
            path,
            "refusing to record a repository endpoint that carries credentials",
            "this is a bug in the caller: record the endpoint without the token",
        ));
    }
    let key = key_for(&entry.config_file);
    entry.config_file = PathBuf::from(&key);
    modify(path, |state| {
        if let Some(old) = state.entries.get(&key) {
            entry.previous_index_url = old.previous_index_url.clone();
            entry.had_previous = old.had_previous;
            // Racing logins: the one that found no file created it, whichever records last.
            entry.created |= old.created;
        }
        state.version = STATE_VERSION;
        state.entries.insert(key, entry.clone());
        Ok(entry)
    })
}

/// Removes the entry of a configuration file; returns it, or `None` if there was none (the file is then left
/// as it was).
pub fn remove(path: &Path, config_file: &Path) -> Result<Option<Entry>> {
    let key = key_for(config_file);
    let _lock = files::lock(path)?;
    let mut state = load_or_replace(path);
    let removed = state.entries.remove(&key);
    if removed.is_some() {
        save(path, &state)?;
    }
    Ok(removed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn entry(config_file: &Path, expires_at: i64, previous: Option<&str>) -> Entry {
        Entry {
            tool: "pip".into(),
            config_file: config_file.to_path_buf(),
            repository_endpoint: "https://mydomain-111122223333.d.codeartifact.us-east-1.amazonaws.com/pypi/isolatedsm/"
                .into(),
            domain: "mydomain".into(),
            domain_owner: Some("111122223333".into()),
            repository: "isolatedsm".into(),
            region: "us-east-1".into(),
            expires_at,
            issued_at: expires_at - 43200,
            previous_index_url: previous.map(String::from),
            had_previous: previous.is_some(),
            token_store: "url".into(),
            extra_index: false,
            created: false,
            source: None,
        }
    }

    #[test]
    fn a_missing_or_empty_file_is_an_empty_state() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("nope/state.json");
        assert_eq!(load(&p).unwrap(), State::default());
        std::fs::write(tmp.path().join("empty.json"), "  \n").unwrap();
        assert!(load(&tmp.path().join("empty.json"))
            .unwrap()
            .entries
            .is_empty());
    }

    #[test]
    fn record_then_load_round_trips_with_mode_0600_and_absolute_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path().join("state/ca-login/state.json");
        let conf = tmp.path().join("home/.config/pip/pip.conf");
        let stored = record(&sp, entry(&conf, 2_000_000_000, None)).unwrap();
        assert_eq!(
            std::fs::metadata(&sp).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let st = load(&sp).unwrap();
        assert_eq!(st.get(&conf), Some(&stored));
        assert_eq!(
            st.entries.keys().next().unwrap(),
            &conf.display().to_string()
        );
        assert_eq!(st.version, STATE_VERSION);
        // A relative path is keyed by its absolute form.
        let rel = PathBuf::from("relative/pip.conf");
        record(&sp, entry(&rel, 1, None)).unwrap();
        let abs = std::env::current_dir().unwrap().join("relative/pip.conf");
        assert_eq!(load(&sp).unwrap().get(&abs).unwrap().config_file, abs);
        assert_eq!(load(&sp).unwrap().entries().count(), 2);
    }

    #[test]
    fn record_keeps_the_index_url_from_before_the_first_login() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path().join("state.json");
        let conf = tmp.path().join("pip.conf");
        record(
            &sp,
            entry(&conf, 100, Some("https://mirror.example/simple/")),
        )
        .unwrap();
        // Second login: the caller saw our own URL as "previous"; the first one is kept.
        let second = record(
            &sp,
            entry(&conf, 200, Some("https://aws:tok@host/pypi/r/simple/")),
        )
        .unwrap();
        assert_eq!(
            second.previous_index_url.as_deref(),
            Some("https://mirror.example/simple/")
        );
        assert!(second.had_previous);
        assert_eq!(second.expires_at, 200);
        let e = load(&sp).unwrap();
        assert_eq!(
            e.get(&conf).unwrap().previous_index_url.as_deref(),
            Some("https://mirror.example/simple/")
        );
        // A first login on a file without index-url stays "no previous" on the next login.
        let other = tmp.path().join("other.conf");
        record(&sp, entry(&other, 100, None)).unwrap();
        let again = record(&sp, entry(&other, 300, Some("https://aws:tok@host/"))).unwrap();
        assert_eq!(
            (again.previous_index_url, again.had_previous),
            (None, false)
        );
    }

    #[test]
    fn remove_drops_one_entry_and_reports_absence() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path().join("state.json");
        let a = tmp.path().join("a.conf");
        let b = tmp.path().join("b.conf");
        record(&sp, entry(&a, 1, None)).unwrap();
        record(&sp, entry(&b, 2, None)).unwrap();
        assert_eq!(remove(&sp, &a).unwrap().unwrap().expires_at, 1);
        assert_eq!(remove(&sp, &a).unwrap(), None);
        let st = load(&sp).unwrap();
        assert!(st.get(&a).is_none());
        assert!(st.get(&b).is_some());
    }

    #[test]
    fn a_corrupt_file_is_a_config_error_with_a_hint_to_delete_it_and_no_content() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path().join("state.json");
        std::fs::write(
            &sp,
            "{\"version\": 1, \"entries\": {\"x\": {\"tool\": \"secret-ish-content\"}}}",
        )
        .unwrap();
        let err = load(&sp).unwrap_err();
        assert_eq!(err.cause(), "config-error");
        let text = err.to_string();
        assert!(text.contains("not a valid ca-login state file"), "{text}");
        assert!(
            text.contains(&format!("hint: delete {}", sp.display())),
            "{text}"
        );
        assert!(
            !text.contains("secret-ish-content"),
            "the error shows the file's content"
        );
        std::fs::write(&sp, "{not json").unwrap();
        assert!(load(&sp)
            .unwrap_err()
            .to_string()
            .contains("not JSON at line 1"));
        // The next record replaces a file we cannot read as ours.
        let conf = tmp.path().join("p.conf");
        record(&sp, entry(&conf, 1, None)).unwrap();
        assert_eq!(load(&sp).unwrap().get(&conf).unwrap().expires_at, 1);
    }

    #[test]
    fn a_record_with_a_control_character_or_a_time_no_renderer_shows_is_unreadable_and_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path().join("state.json");
        let conf = tmp.path().join("p.conf");
        let forge = |f: &dyn Fn(&mut Entry)| {
            let mut e = entry(&conf, 1_900_000_000, None);
            f(&mut e);
            let mut st = State::default();
            st.entries.insert(key_for(&conf), e);
            std::fs::write(&sp, serde_json::to_string(&st).unwrap()).unwrap();
        };
        forge(&|_| {});
        assert!(load(&sp).is_ok());
        type Forger = Box<dyn Fn(&mut Entry)>;
        let cases: [(&str, Forger); 8] = [
            ("expires_at", Box::new(|e| e.expires_at = i64::MAX)),
            ("issued_at", Box::new(|e| e.issued_at = i64::MIN)),
            ("domain", Box::new(|e| e.domain = "d\u{1b}]0;x\u{7}".into())),
            (
                "region",
                Box::new(|e| e.region = "us-east-1\n[ok] fake".into()),
            ),
            (
                "config_file",
                Box::new(|e| e.config_file = "/tmp/\u{202e}lmth.pip.conf".into()),
            ),
            ("source", Box::new(|e| e.source = Some("s\u{9b}2J".into()))),
            (
                "repository_endpoint",
                Box::new(|e| e.repository_endpoint.push_str(";touch${IFS}/tmp/x;#")),
            ),
            ("source", Box::new(|e| e.source = Some("cs;id".into()))),
        ];
        for (field, f) in cases {
            forge(&*f);
            let e = load(&sp).unwrap_err();
            assert_eq!(e.cause(), "config-error");
            assert!(e.to_string().contains(field), "{field}: {e}");
            assert!(
                !e.to_string().replace('\n', " ").chars().any(unprintable),
                "{e:?}"
            );
            record(&sp, entry(&conf, 1_900_000_000, None)).unwrap();
            assert!(load(&sp).is_ok(), "{field}: the next record replaces it");
        }
    }

    #[test]
    fn another_version_a_link_a_fifo_or_over_1_mib_is_unreadable_and_replaced_by_the_next_record() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path().join("state.json");
        let conf = tmp.path().join("p.conf");
        std::fs::write(&sp, "{\"version\": 7, \"entries\": {}}").unwrap();
        assert!(load(&sp)
            .unwrap_err()
            .to_string()
            .contains("format version 7"));
        record(&sp, entry(&conf, 1, None)).unwrap();
        std::fs::write(&sp, vec![b' '; (files::MAX_FILE_BYTES + 1) as usize]).unwrap();
        assert!(load(&sp)
            .unwrap_err()
            .to_string()
            .contains("larger than 1 MiB"));
        record(&sp, entry(&conf, 2, None)).unwrap();
        // A link: never followed, neither to read nor to write; the link itself is replaced.
        let target = tmp.path().join("elsewhere.json");
        std::fs::write(&target, "{}").unwrap();
        std::fs::remove_file(&sp).unwrap();
        std::os::unix::fs::symlink(&target, &sp).unwrap();
        assert!(load(&sp).unwrap_err().to_string().contains("symbolic link"));
        record(&sp, entry(&conf, 3, None)).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{}");
        assert!(std::fs::symlink_metadata(&sp).unwrap().is_file());
        // A FIFO: named at once, never waited on; check_writable lets it be replaced, but not a directory.
        std::fs::remove_file(&sp).unwrap();
        assert!(std::process::Command::new("mkfifo")
            .arg(&sp)
            .status()
            .unwrap()
            .success());
        assert!(load(&sp).unwrap_err().to_string().contains("a FIFO"));
        assert!(check_writable(&sp)
            .unwrap_err()
            .to_string()
            .contains("a FIFO"));
        std::fs::remove_file(&sp).unwrap();
        std::fs::create_dir(&sp).unwrap();
        let err = check_writable(&sp).unwrap_err();
        assert_eq!(err.cause(), "config-error");
        assert!(err.to_string().contains("a directory"), "{err}");
    }

    #[test]
    fn record_refuses_an_endpoint_with_credentials() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path().join("state.json");
        let mut e = entry(&tmp.path().join("p.conf"), 1, None);
        e.repository_endpoint = "https://aws:sekrit-token@host/pypi/r/".into();
        let err = record(&sp, e).unwrap_err().to_string();
        assert!(!err.contains("sekrit-token"), "the error shows the token");
        assert!(!sp.exists());
    }

    #[test]
    fn debug_masks_a_previous_url_with_credentials() {
        let e = entry(
            Path::new("/p.conf"),
            1,
            Some("https://user:pw-sekrit@mirror/simple/"),
        );
        assert!(
            !format!("{e:?}").contains("pw-sekrit"),
            "Entry's Debug shows a password"
        );
    }

    #[test]
    fn record_from_8_threads_keeps_every_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path().join("state.json");
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let sp = sp.clone();
                let conf = tmp.path().join(format!("{i}.conf"));
                std::thread::spawn(move || {
                    for round in 0..5 {
                        record(&sp, entry(&conf, round, None)).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let st = load(&sp).unwrap();
        assert_eq!(st.entries.len(), 8);
        assert!(st.entries().all(|e| e.expires_at == 4));
    }

    #[test]
    fn the_file_holds_no_token_fields() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path().join("state.json");
        record(&sp, entry(&tmp.path().join("p.conf"), 1, None)).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&sp).unwrap()).unwrap();
        let fields: Vec<&String> = v["entries"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .collect();
        let mut want = vec![
            "config_file",
            "domain",
            "domain_owner",
            "expires_at",
            "had_previous",
            "issued_at",
            "previous_index_url",
            "region",
            "repository",
            "repository_endpoint",
            "tool",
            // Where the token is ("url" or "netrc"), never the token itself.
            "token_store",
            "extra_index",
            "created",
            "source",
        ];
        want.sort();
        let mut got: Vec<&str> = fields.iter().map(|s| s.as_str()).collect();
        got.sort();
        assert_eq!(got, want);
    }
}
