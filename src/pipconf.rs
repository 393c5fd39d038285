//! pip's configuration files: which ones pip reads and in which order, what `pip install` ends up using,
//! and changing one key while keeping every other byte of the file.
//!
//! Files are parsed exactly as pip parses them: Python's `configparser.RawConfigParser()` (strict, `=` and `:`
//! delimiters, `#`/`;` full-line comments only, indented continuation lines, keys lowercased), then pip's own
//! key normalization (`_` -> `-`, a leading `--` dropped). Values (which hold tokens) never appear in errors or `Debug`.

// `Error` is the crate's one (large) error enum; boxing it is the lead's call, for the whole crate.
#![allow(clippy::result_large_err)]

use std::collections::HashSet;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files;
use crate::secret::mask_url;

/// pip's file name in every configuration directory.
pub const CONFIG_BASENAME: &str = "pip.conf";
/// Every comment line we write starts with this; such a line directly above a key is ours to replace or remove.
pub const COMMENT_PREFIX: &str = "# ca-login:";

// ---------------------------------------------------------------------------------------------------------------
// Which files pip reads
// ---------------------------------------------------------------------------------------------------------------

/// The kinds of pip configuration file (pip's "variants").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `$XDG_CONFIG_DIRS/pip/pip.conf` (default `/etc/xdg/pip/pip.conf`), then `/etc/pip.conf`.
    Global,
    /// `~/.pip/pip.conf` (legacy), then `$XDG_CONFIG_HOME/pip/pip.conf` (default `~/.config/pip/pip.conf`).
    User,
    /// `sys.prefix/pip.conf`.
    Site,
    /// The file named by `PIP_CONFIG_FILE`.
    EnvFile,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Global => "global",
            Kind::User => "user",
            Kind::Site => "site",
            Kind::EnvFile => "PIP_CONFIG_FILE",
        }
    }
}

/// Everything that decides which files pip reads and what it ends up using. [`PipContext::from_process`] reads
/// the real environment; tests build one by hand with temporary paths (including `global_dirs`).
#[derive(Clone, Default)]
pub struct PipContext {
    /// The Python environment's `sys.prefix` (its `pip.conf` is the site file); `None`: no site file.
    pub sys_prefix: Option<PathBuf>,
    /// `~` as Python's `os.path.expanduser` sees it (`$HOME`).
    pub home: PathBuf,
    /// `$XDG_CONFIG_HOME` as set (unset, empty or blank: `~/.config`).
    pub xdg_config_home: Option<PathBuf>,
    /// `$XDG_CONFIG_DIRS` as set (unset, empty or blank: `/etc/xdg`).
    pub xdg_config_dirs: Option<String>,
    /// Replaces the global directories (`$XDG_CONFIG_DIRS/pip` entries and `/etc`) entirely; for tests.
    pub global_dirs: Option<Vec<PathBuf>>,
    /// `$PIP_CONFIG_FILE` as set.
    pub pip_config_file: Option<PathBuf>,
    /// The `PIP_*` environment variables, in environment order.
    pub env: Vec<(String, String)>,
}

impl fmt::Debug for PipContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // PIP_INDEX_URL may hold a token: names only, values masked.
        let env: Vec<(&str, String)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), mask_url(v)))
            .collect();
        f.debug_struct("PipContext")
            .field("sys_prefix", &self.sys_prefix)
            .field("home", &self.home)
            .field("xdg_config_home", &self.xdg_config_home)
            .field("xdg_config_dirs", &self.xdg_config_dirs)
            .field("global_dirs", &self.global_dirs)
            .field("pip_config_file", &self.pip_config_file)
            .field("env", &env)
            .finish()
    }
}

impl PipContext {
    /// A context with only a home directory: no site file, default XDG directories, no `PIP_*` variables.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        PipContext {
            home: home.into(),
            ..Default::default()
        }
    }

    /// The context of this process: `$HOME`, `$XDG_CONFIG_HOME`, `$XDG_CONFIG_DIRS`, `$PIP_CONFIG_FILE`, `PIP_*`.
    /// `sys_prefix` is the target Python's `sys.prefix` (the caller knows which interpreter runs pip).
    pub fn from_process(sys_prefix: Option<PathBuf>) -> Self {
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("PIP_"))
            .collect();
        PipContext {
            sys_prefix,
            // Python falls back to the literal "~" when it cannot find a home either.
            home: dirs::home_dir().unwrap_or_else(|| PathBuf::from("~")),
            xdg_config_home: std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
            xdg_config_dirs: std::env::var("XDG_CONFIG_DIRS").ok(),
            global_dirs: None,
            pip_config_file: std::env::var_os("PIP_CONFIG_FILE").map(PathBuf::from),
            env,
        }
    }
}

fn expand_user(p: &str, home: &Path) -> PathBuf {
    if p == "~" {
        home.to_path_buf()
    } else if let Some(rest) = p.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(p)
    }
}

/// The directories holding global `pip.conf` files, lowest precedence first (pip's `site_config_dirs("pip")` + `/etc`).
pub fn global_config_dirs(ctx: &PipContext) -> Vec<PathBuf> {
    if let Some(dirs) = &ctx.global_dirs {
        return dirs.clone();
    }
    let raw = ctx.xdg_config_dirs.as_deref().unwrap_or("");
    let raw = if py_strip(raw).is_empty() {
        "/etc/xdg"
    } else {
        raw
    };
    let mut dirs: Vec<PathBuf> = raw
        .split(':')
        .map(|p| expand_user(p, &ctx.home).join("pip"))
        .collect();
    dirs.push(PathBuf::from("/etc"));
    dirs
}

/// The two user files, legacy first: `~/.pip/pip.conf`, `$XDG_CONFIG_HOME/pip/pip.conf`.
pub fn user_config_files(ctx: &PipContext) -> [PathBuf; 2] {
    let legacy = ctx.home.join(".pip").join(CONFIG_BASENAME);
    let config_home = match &ctx.xdg_config_home {
        Some(p) if !py_strip(&p.to_string_lossy()).is_empty() => p.clone(),
        _ => ctx.home.join(".config"),
    };
    [legacy, config_home.join("pip").join(CONFIG_BASENAME)]
}

/// `sys.prefix/pip.conf`, when the prefix is known.
pub fn site_config_file(ctx: &PipContext) -> Option<PathBuf> {
    ctx.sys_prefix.as_ref().map(|p| p.join(CONFIG_BASENAME))
}

fn env_file_skips_all(ctx: &PipContext) -> bool {
    ctx.pip_config_file
        .as_ref()
        .is_some_and(|p| p.as_os_str() == "/dev/null")
}

/// The files pip would read, lowest precedence first (global..., user..., site, `PIP_CONFIG_FILE`), whether they
/// exist or not (pip treats a missing file as empty). User files are left out when `PIP_CONFIG_FILE` names an
/// existing path; everything is left out when `PIP_CONFIG_FILE=/dev/null`.
pub fn config_files(ctx: &PipContext) -> Vec<(Kind, PathBuf)> {
    if env_file_skips_all(ctx) {
        return Vec::new();
    }
    let env_file = ctx
        .pip_config_file
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty());
    let mut files: Vec<(Kind, PathBuf)> = global_config_dirs(ctx)
        .into_iter()
        .map(|d| (Kind::Global, d.join(CONFIG_BASENAME)))
        .collect();
    if !env_file.is_some_and(|p| p.exists()) {
        files.extend(user_config_files(ctx).into_iter().map(|p| (Kind::User, p)));
    }
    if let Some(site) = site_config_file(ctx) {
        files.push((Kind::Site, site));
    }
    if let Some(p) = env_file {
        files.push((Kind::EnvFile, p.clone()));
    }
    files
}

/// The file `pip config set global.index-url URL` (no `--user`/`--site`/`--global`) writes: the site file when it
/// exists, else the new-style user file. (pip itself then fails when `PIP_CONFIG_FILE` names an existing file and
/// there is no site file, because it did not load the user files; this returns the user file anyway.)
pub fn default_target(ctx: &PipContext) -> PathBuf {
    match site_config_file(ctx) {
        Some(site) if site.exists() => site,
        _ => {
            let [_, new] = user_config_files(ctx);
            new
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// What pip install would use
// ---------------------------------------------------------------------------------------------------------------

/// Where a setting comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Source {
    /// A key in a file; `section` is the section the line sits in (`DEFAULT` values apply to every section).
    File {
        kind: Kind,
        path: PathBuf,
        section: String,
    },
    /// A `PIP_*` environment variable (its name).
    EnvVar { name: String },
    /// Not set anywhere: pip's built-in default.
    Default,
}

/// What `pip <command>` would use, and where each value comes from.
#[derive(Clone, PartialEq, Eq)]
pub struct Effective {
    /// `None`: pip's default, `https://pypi.org/simple`.
    pub index_url: Option<String>,
    pub source: Source,
    pub extra_index_urls: Vec<String>,
    pub extra_source: Source,
    /// `--no-index` set by configuration: pip then ignores every index URL.
    pub no_index: bool,
    pub no_index_source: Source,
    /// Every other non-empty index URL setting that lost to `source` (highest precedence first). A file of ours
    /// listed here is overridden by `source`.
    pub shadowed: Vec<Source>,
    /// The files pip read (existing and readable), lowest precedence first.
    pub files_read: Vec<(Kind, PathBuf)>,
    /// Files that exist but cannot be read by this user (pip skips them silently).
    pub unreadable: Vec<(Kind, PathBuf)>,
}

impl fmt::Debug for Effective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extra: Vec<String> = self.extra_index_urls.iter().map(|u| mask_url(u)).collect();
        f.debug_struct("Effective")
            .field("index_url", &self.index_url.as_deref().map(mask_url))
            .field("source", &self.source)
            .field("extra_index_urls", &extra)
            .field("extra_source", &self.extra_source)
            .field("no_index", &self.no_index)
            .field("no_index_source", &self.no_index_source)
            .field("shadowed", &self.shadowed)
            .field("files_read", &self.files_read)
            .field("unreadable", &self.unreadable)
            .finish()
    }
}

/// A dict that keeps first-insertion order on update, like Python's.
struct OrderedMap<V> {
    items: Vec<(String, V)>,
}

impl<V> OrderedMap<V> {
    fn new() -> Self {
        OrderedMap { items: Vec::new() }
    }
    fn insert(&mut self, key: String, value: V) {
        match self.items.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.items.push((key, value)),
        }
    }
}

/// pip's `_normalize_name`: lowercase, `_` -> `-`, a leading `--` dropped.
pub fn normalize_key(name: &str) -> String {
    let n = name.to_lowercase().replace('_', "-");
    match n.strip_prefix("--") {
        Some(rest) => rest.to_string(),
        None => n,
    }
}

fn strtobool(v: &str) -> Option<bool> {
    match v.to_lowercase().as_str() {
        "y" | "yes" | "t" | "true" | "on" | "1" => Some(true),
        "n" | "no" | "f" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Reads a file the way pip does for loading: missing, a directory or unreadable -> `Ok(None)` (skipped);
/// not UTF-8 or unparsable -> error (pip refuses to run).
fn load_for_pip(path: &Path) -> std::result::Result<Option<Document>, LoadSkip> {
    let bytes = match files::user::open_file(path, files::user::Open::Read) {
        Ok(f) => {
            let mut bytes = Vec::new();
            f.take(files::MAX_FILE_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|_| LoadSkip::Unreadable)?;
            if bytes.len() as u64 > files::MAX_FILE_BYTES {
                return Err(LoadSkip::Error(Error::config(
                    path,
                    format!(
                        "is larger than {} MiB: not a pip config file",
                        files::MAX_FILE_BYTES >> 20
                    ),
                    format!("check what {} is (`ls -l`)", path.display()),
                )));
            }
            bytes
        }
        Err(files::user::OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
            return Err(LoadSkip::Missing)
        }
        // pip skips a directory; a FIFO, device or socket would block or flood it: name it.
        Err(files::user::OpenError::NotRegular("a directory"))
        | Err(files::user::OpenError::Io(_)) => return Err(LoadSkip::Unreadable),
        Err(e) => {
            return Err(LoadSkip::Error(files::open_error(
                path,
                "read pip's configuration",
                e,
            )))
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| LoadSkip::Error(not_utf8(path)))?;
    Document::parse(&text, path)
        .map(Some)
        .map_err(LoadSkip::Error)
}

enum LoadSkip {
    Missing,
    Unreadable,
    Error(Error),
}

/// What `pip <command>` (e.g. `"install"`) would use as its index URL, extra index URLs and `no-index`, and
/// where each comes from, following pip 23: files merged per `section.key` in precedence order, then
/// `[global]` < `[<command>]` < `PIP_*` variables; an empty value is ignored (but still hides lower files' value
/// for the same section and key). A file pip cannot parse is an error, as it is for pip.
pub fn effective_index_url(ctx: &PipContext, command: &str) -> Result<Effective> {
    let mut merged: OrderedMap<(String, Source)> = OrderedMap::new();
    // Every definition of the index URL, with its rank, to report the losers.
    let mut definitions: Vec<((usize, usize), Source, bool)> = Vec::new();
    let mut files_read = Vec::new();
    let mut unreadable = Vec::new();
    let group_rank = |section: &str| -> Option<usize> {
        if section == command {
            Some(1)
        } else if section == "global" {
            Some(0)
        } else {
            None
        }
    };
    for (file_rank, (kind, path)) in config_files(ctx).into_iter().enumerate() {
        let doc = match load_for_pip(&path) {
            Ok(Some(doc)) => doc,
            Ok(None) | Err(LoadSkip::Missing) => continue,
            Err(LoadSkip::Unreadable) => {
                unreadable.push((kind, path));
                continue;
            }
            Err(LoadSkip::Error(e)) => return Err(e),
        };
        files_read.push((kind, path.clone()));
        for section in doc.sections() {
            let items = doc.pip_items(section);
            let mut normalized: OrderedMap<(String, String)> = OrderedMap::new();
            for (key, value, physical) in items {
                normalized.insert(normalize_key(&key), (value, physical));
            }
            for (key, (value, physical)) in normalized.items {
                let src = Source::File {
                    kind,
                    path: path.clone(),
                    section: physical,
                };
                if key == "index-url" || key == "pypi-url" {
                    if let Some(g) = group_rank(section) {
                        definitions.push(((g, file_rank), src.clone(), !value.is_empty()));
                    }
                }
                merged.insert(format!("{section}.{key}"), (value, src));
            }
        }
    }
    for (name, value) in &ctx.env {
        let Some(rest) = name.strip_prefix("PIP_") else {
            continue;
        };
        let lower = rest.to_lowercase();
        if lower == "version" || lower == "help" {
            continue;
        }
        let key = normalize_key(&lower);
        let src = Source::EnvVar { name: name.clone() };
        if key == "index-url" || key == "pypi-url" {
            definitions.push(((2, 0), src.clone(), !value.is_empty()));
        }
        merged.insert(format!(":env:.{key}"), (value.clone(), src));
    }

    let mut eff = Effective {
        index_url: None,
        source: Source::Default,
        extra_index_urls: Vec::new(),
        extra_source: Source::Default,
        no_index: false,
        no_index_source: Source::Default,
        shadowed: Vec::new(),
        files_read,
        unreadable,
    };
    for group in ["global", command, ":env:"] {
        for (section_key, (value, src)) in &merged.items {
            if value.is_empty() {
                continue;
            }
            let Some((section, key)) = section_key.split_once('.') else {
                continue;
            };
            if section != group {
                continue;
            }
            match key {
                "index-url" | "pypi-url" => {
                    eff.index_url = Some(value.clone());
                    eff.source = src.clone();
                }
                "extra-index-url" => {
                    eff.extra_index_urls = value
                        .split(py_is_space)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect();
                    eff.extra_source = src.clone();
                }
                "no-index" => {
                    let Some(b) = strtobool(value) else {
                        let where_ = match src {
                            Source::File { path, .. } => path.clone(),
                            Source::EnvVar { name } => PathBuf::from(format!("${name}")),
                            Source::Default => PathBuf::new(),
                        };
                        return Err(Error::config(
                            where_,
                            "no-index is not a boolean; pip refuses to run with it",
                            "use one of yes/no, true/false, on/off, 1/0",
                        ));
                    };
                    eff.no_index = b;
                    eff.no_index_source = src.clone();
                }
                _ => {}
            }
        }
    }
    definitions.sort_by_key(|d| std::cmp::Reverse(d.0));
    for (_, src, non_empty) in definitions {
        if non_empty && src != eff.source && !eff.shadowed.contains(&src) {
            eff.shadowed.push(src);
        }
    }
    Ok(eff)
}

// ---------------------------------------------------------------------------------------------------------------
// Python's notion of whitespace, strip and configparser's line rules
// ---------------------------------------------------------------------------------------------------------------

/// Python's `str.isspace()`.
fn py_is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\x0b'
            | '\x0c'
            | '\r'
            | '\x1c'..='\x1f'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

fn py_strip(s: &str) -> &str {
    s.trim_matches(py_is_space)
}

fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(py_is_space)
}

/// The leading whitespace of a line (configparser's indentation).
fn indent_of(s: &str) -> &str {
    &s[..s.len() - s.trim_start_matches(py_is_space).len()]
}

fn is_comment(stripped: &str) -> bool {
    stripped.starts_with('#') || stripped.starts_with(';')
}

fn is_our_comment(text: &str) -> bool {
    py_strip(text).starts_with(COMMENT_PREFIX)
}

/// configparser's `SECTCRE` (`\[(?P<header>.+)\]`, matched at the start of the stripped line).
fn section_header(stripped: &str) -> Option<&str> {
    let rest = stripped.strip_prefix('[')?;
    let close = rest.rfind(']')?;
    (close >= 1).then(|| &rest[..close])
}

// ---------------------------------------------------------------------------------------------------------------
// Document: a parsed file that keeps every byte
// ---------------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eol {
    Lf,
    CrLf,
    Cr,
    None,
}

impl Eol {
    fn as_str(self) -> &'static str {
        match self {
            Eol::Lf => "\n",
            Eol::CrLf => "\r\n",
            Eol::Cr => "\r",
            Eol::None => "",
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
struct Line {
    text: String,
    eol: Eol,
}

#[derive(Clone)]
struct Block {
    name: String,
    header: usize,
}

#[derive(Clone)]
struct Opt {
    block: usize,
    /// Lowercased as configparser stores it (not pip-normalized).
    key: String,
    line: usize,
    /// Continuation lines (not the blank or comment lines between them).
    cont: Vec<usize>,
    value: String,
    /// Byte offset in the key line where the value starts (after the delimiter and its spaces).
    value_start: usize,
    /// Byte offset of the delimiter in the key line.
    delim: usize,
}

/// A pip configuration file, parsed as configparser does, that renders back byte for byte.
#[derive(Clone)]
pub struct Document {
    path: PathBuf,
    lines: Vec<Line>,
    blocks: Vec<Block>,
    options: Vec<Opt>,
    eol: Eol,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the lines: they hold tokens.
        f.debug_struct("Document")
            .field("path", &self.path)
            .field("lines", &self.lines.len())
            .field("sections", &self.sections())
            .finish()
    }
}

/// Splits like Python's universal newlines: `\r\n`, `\r` and `\n` end a line.
fn split_lines(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (eol, len) = match bytes[i] {
            b'\n' => (Eol::Lf, 1),
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => (Eol::CrLf, 2),
            b'\r' => (Eol::Cr, 1),
            _ => {
                i += 1;
                continue;
            }
        };
        lines.push(Line {
            text: text[start..i].to_string(),
            eol,
        });
        i += len;
        start = i;
    }
    if start < bytes.len() {
        lines.push(Line {
            text: text[start..].to_string(),
            eol: Eol::None,
        });
    }
    lines
}

enum ParseFail {
    Bom,
    MissingHeader(usize),
    DuplicateSection {
        line: usize,
        name: String,
    },
    DuplicateOption {
        line: usize,
        section: String,
        key: String,
    },
    Syntax(Vec<usize>),
}

fn not_utf8(path: &Path) -> Error {
    Error::config(
        path,
        "pip cannot read this file: it is not valid UTF-8 text",
        "re-save the file as UTF-8 (pip reads it with the locale's encoding)",
    )
}

fn analyze(lines: &[Line]) -> std::result::Result<(Vec<Block>, Vec<Opt>), ParseFail> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut options: Vec<Opt> = Vec::new();
    let mut parts: Vec<Vec<String>> = Vec::new();
    let mut seen_sections: HashSet<String> = HashSet::new();
    let mut seen_options: HashSet<(String, String)> = HashSet::new();
    let mut cur: Option<usize> = None; // current block
    let mut optname: Option<usize> = None; // current option (configparser's truthy `optname`)
    let mut indent_level = 0usize;
    let mut syntax = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.text.as_str();
        let value = py_strip(t);
        if value.is_empty() || is_comment(value) {
            if value.is_empty() && cur.is_some() {
                if let Some(o) = optname {
                    parts[o].push(String::new());
                }
            }
            continue;
        }
        let cur_indent = indent_of(t).chars().count();
        if let (Some(_), Some(o)) = (cur, optname) {
            if cur_indent > indent_level {
                parts[o].push(value.to_string());
                options[o].cont.push(i);
                continue;
            }
        }
        indent_level = cur_indent;
        if let Some(name) = section_header(value) {
            if name != "DEFAULT" && !seen_sections.insert(name.to_string()) {
                return Err(ParseFail::DuplicateSection {
                    line: i + 1,
                    name: name.to_string(),
                });
            }
            blocks.push(Block {
                name: name.to_string(),
                header: i,
            });
            cur = Some(blocks.len() - 1);
            optname = None;
            continue;
        }
        let Some(b) = cur else {
            if i == 0 && t.starts_with('\u{feff}') {
                return Err(ParseFail::Bom);
            }
            return Err(ParseFail::MissingHeader(i + 1));
        };
        let Some(d) = value.find(['=', ':']) else {
            syntax.push(i + 1);
            continue;
        };
        let lead = t.len() - t.trim_start_matches(py_is_space).len();
        let delim = lead + d;
        let after = &t[delim + 1..];
        let value_start = delim + 1 + (after.len() - after.trim_start_matches(py_is_space).len());
        let key = py_rstrip(&value[..d]).to_lowercase();
        let section = blocks[b].name.clone();
        if !seen_options.insert((section.clone(), key.clone())) {
            return Err(ParseFail::DuplicateOption {
                line: i + 1,
                section,
                key,
            });
        }
        if key.is_empty() {
            syntax.push(i + 1);
            optname = None;
            continue;
        }
        options.push(Opt {
            block: b,
            key,
            line: i,
            cont: Vec::new(),
            value: String::new(),
            value_start,
            delim,
        });
        parts.push(vec![py_strip(&value[d + 1..]).to_string()]);
        optname = Some(options.len() - 1);
    }
    if !syntax.is_empty() {
        return Err(ParseFail::Syntax(syntax));
    }
    for (o, p) in options.iter_mut().zip(parts) {
        o.value = py_rstrip(&p.join("\n")).to_string();
    }
    Ok((blocks, options))
}

fn parse_error(path: &Path, fail: ParseFail) -> Error {
    // Never the line's text: it may hold a token.
    let (message, hint) = match fail {
        ParseFail::Bom => (
            "pip cannot parse this file: it starts with a byte order mark (BOM), which pip's parser reads as text \
             before the first [section] header"
                .to_string(),
            "re-save the file as UTF-8 without BOM".to_string(),
        ),
        ParseFail::MissingHeader(line) => (
            format!("pip cannot parse this file: line {line} comes before any [section] header"),
            "put the setting under a section such as [global], or delete the line".to_string(),
        ),
        ParseFail::DuplicateSection { line, name } => (
            format!("pip cannot parse this file: section [{name}] appears a second time on line {line}"),
            format!("merge the two [{name}] sections into one"),
        ),
        ParseFail::DuplicateOption { line, section, key } => (
            format!(
                "pip cannot parse this file: key '{key}' appears a second time in [{section}] on line {line} \
                 (keys are case-insensitive)"
            ),
            format!("keep only one '{key}' line in [{section}]"),
        ),
        ParseFail::Syntax(lines) => {
            let list: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            (
                format!(
                    "pip cannot parse this file: line{} {} {} not a [section] header, a `key = value` line, a comment \
                     or an indented continuation",
                    if lines.len() == 1 { "" } else { "s" },
                    list.join(", "),
                    if lines.len() == 1 { "is" } else { "are" },
                ),
                "add `=` between the key and its value, or start the line with # to make it a comment".to_string(),
            )
        }
    };
    Error::config(path, message, hint)
}

fn bug(path: &Path, what: &str) -> Error {
    Error::config(
        path,
        format!(
            "internal error while editing pip's configuration: {what}; the file was not changed"
        ),
        "please report this as a bug in ca_login",
    )
}

/// The raw data configparser would hold: (section, lowercased key, value), in file order, plus section names.
type RawView = (Vec<(String, String, String)>, Vec<String>);

impl Document {
    /// Parses `text` as pip would; the error names the line (never its text).
    pub fn parse(text: &str, path: &Path) -> Result<Document> {
        Self::from_lines(path, split_lines(text)).map_err(|f| parse_error(path, f))
    }

    fn from_lines(path: &Path, lines: Vec<Line>) -> std::result::Result<Document, ParseFail> {
        let (blocks, options) = analyze(&lines)?;
        let eol = lines
            .iter()
            .map(|l| l.eol)
            .find(|e| *e != Eol::None)
            .unwrap_or(Eol::Lf);
        Ok(Document {
            path: path.to_path_buf(),
            lines,
            blocks,
            options,
            eol,
        })
    }

    /// The path this document was read from (or will be written to).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The section names pip sees (without `DEFAULT`), in file order.
    pub fn sections(&self) -> Vec<&str> {
        self.blocks
            .iter()
            .map(|b| b.name.as_str())
            .filter(|n| *n != "DEFAULT")
            .collect()
    }

    /// The text, byte for byte as parsed plus any edits.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str(&l.text);
            s.push_str(l.eol.as_str());
        }
        s
    }

    fn matches(&self, section: &str, nk: &str) -> Vec<usize> {
        (0..self.options.len())
            .filter(|&o| {
                let opt = &self.options[o];
                self.blocks[opt.block].name == section && normalize_key(&opt.key) == nk
            })
            .collect()
    }

    /// The value of `key` in `section` itself (not inherited from `DEFAULT`), matched as pip matches keys
    /// (`index_url`, `INDEX-URL` and `index-url` are one key; the last line wins). Continuation lines are joined
    /// with `\n`, as configparser does.
    pub fn get(&self, section: &str, key: &str) -> Option<String> {
        let m = self.matches(section, &normalize_key(key));
        m.last().map(|&o| self.options[o].value.clone())
    }

    /// configparser's `items(section)`: `DEFAULT`'s keys, then the section's, a section key replacing a default in
    /// place. Each with the section its line is in.
    fn pip_items(&self, section: &str) -> Vec<(String, String, String)> {
        let mut map: OrderedMap<(String, String)> = OrderedMap::new();
        for name in ["DEFAULT", section] {
            for o in &self.options {
                if self.blocks[o.block].name == name {
                    map.insert(o.key.clone(), (o.value.clone(), name.to_string()));
                }
            }
        }
        map.items.into_iter().map(|(k, (v, s))| (k, v, s)).collect()
    }

    fn raw_view(&self, skip_section: &str, skip_key: &str) -> RawView {
        let opts = self
            .options
            .iter()
            .filter(|o| {
                !(self.blocks[o.block].name == skip_section && normalize_key(&o.key) == skip_key)
            })
            .map(|o| {
                (
                    self.blocks[o.block].name.clone(),
                    o.key.clone(),
                    o.value.clone(),
                )
            })
            .collect();
        let mut names: Vec<String> = Vec::new();
        for b in &self.blocks {
            if b.name != skip_section && !names.contains(&b.name) {
                names.push(b.name.clone());
            }
        }
        (opts, names)
    }

    /// Applies an edit on a copy of the lines; keeps a missing final newline missing. Returns the new document.
    fn edited(
        &self,
        edit: impl FnOnce(&mut Vec<Line>, Eol),
    ) -> std::result::Result<Document, ParseFail> {
        let mut lines = self.lines.clone();
        let missing_final = lines.last().is_some_and(|l| l.eol == Eol::None);
        if let Some(last) = lines.last_mut() {
            if last.eol == Eol::None {
                last.eol = self.eol;
            }
        }
        edit(&mut lines, self.eol);
        if missing_final {
            if let Some(last) = lines.last_mut() {
                last.eol = Eol::None;
            }
        }
        Document::from_lines(&self.path, lines)
    }

    fn check_args(
        &self,
        section: &str,
        key: &str,
        value: Option<&str>,
        comment: Option<&str>,
    ) -> Result<()> {
        let has_break = |s: &str| s.contains(['\n', '\r']);
        let refuse = |what: &str| {
            Err(Error::config(
                &self.path,
                format!("refusing to write key '{key}' in [{section}]: {what}"),
                "this is a bug in the caller; please report it",
            ))
        };
        if section.is_empty() || has_break(section) || py_strip(section) != section {
            return refuse("the section name is empty, has a line break or surrounding spaces");
        }
        if key.is_empty()
            || has_break(key)
            || py_strip(key) != key
            || key.contains(['=', ':'])
            || key.starts_with(['[', '#', ';'])
        {
            return refuse("the key is not a plain configparser key");
        }
        if let Some(v) = value {
            if has_break(v) || py_strip(v) != v {
                return refuse("the value has a line break or surrounding spaces");
            }
        }
        if comment.is_some_and(has_break) {
            return refuse("the comment has a line break");
        }
        Ok(())
    }

    /// Sets `key` in `section` to `value`, changing nothing else:
    /// - if the key is there (any spelling pip treats as the same), its last occurrence gets the new value in
    ///   place (its key text and delimiter kept) and loses its continuation lines;
    /// - else the key is appended after the section's last key; else the section is appended at the end.
    ///
    /// `comment` is written as a full-line comment directly above the key, prefixed with `# ca-login:` unless it
    /// already is; a `# ca-login:` line already directly above the key is replaced (or removed if `comment` is
    /// `None`), never duplicated. Line endings follow the file; a missing final newline stays missing.
    pub fn set(
        &mut self,
        section: &str,
        key: &str,
        value: &str,
        comment: Option<&str>,
    ) -> Result<()> {
        self.check_args(section, key, Some(value), comment)?;
        let nk = normalize_key(key);
        let comment = comment.map(|c| {
            let c = py_strip(c);
            if c.starts_with(COMMENT_PREFIX) {
                c.to_string()
            } else {
                format!("{COMMENT_PREFIX} {c}")
            }
        });
        let new = if let Some(&o) = self.matches(section, &nk).last() {
            let opt = self.options[o].clone();
            self.edited(|lines, eol| {
                let kl = opt.line;
                let t = lines[kl].text.clone();
                let mut prefix = t[..opt.value_start].to_string();
                let old_first_empty = py_strip(&t[opt.value_start..]).is_empty();
                if old_first_empty
                    && !value.is_empty()
                    && prefix.len() == opt.delim + 1
                    && opt.delim > 0
                {
                    // `key =` (space before the delimiter, none after): keep it symmetrical.
                    if t[..opt.delim].ends_with(py_is_space) {
                        prefix.push(' ');
                    }
                }
                lines[kl].text = format!("{prefix}{value}");
                for &c in opt.cont.iter().rev() {
                    lines.remove(c);
                }
                let indent = indent_of(&t).to_string();
                let above = kl
                    .checked_sub(1)
                    .filter(|&a| is_our_comment(&lines[a].text));
                match (above, &comment) {
                    (Some(a), Some(c)) => {
                        lines[a].text = format!("{}{c}", indent_of(&lines[a].text))
                    }
                    (Some(a), None) => {
                        lines.remove(a);
                    }
                    (None, Some(c)) => lines.insert(
                        kl,
                        Line {
                            text: format!("{indent}{c}"),
                            eol,
                        },
                    ),
                    (None, None) => {}
                }
            })
        } else if let Some(b) = self.blocks.iter().rposition(|b| b.name == section) {
            // After the span of the block's last key, with that key's indentation (so that neither our line nor
            // the next one becomes a continuation line); right after the header if the block has no key.
            let last = self.options.iter().rfind(|o| o.block == b).cloned();
            let (pos, indent) = match &last {
                Some(o) => {
                    let end = o.cont.last().copied().unwrap_or(o.line);
                    (end + 1, indent_of(&self.lines[o.line].text).to_string())
                }
                None => {
                    let pos = self.blocks[b].header + 1;
                    let next_real = self.lines[pos..].iter().find(|l| {
                        let s = py_strip(&l.text);
                        !s.is_empty() && !is_comment(s)
                    });
                    (
                        pos,
                        next_real
                            .map(|l| indent_of(&l.text).to_string())
                            .unwrap_or_default(),
                    )
                }
            };
            let key_line = new_key_line(&indent, key, value);
            self.edited(|lines, eol| {
                let mut add = Vec::new();
                if let Some(c) = &comment {
                    add.push(Line {
                        text: format!("{indent}{c}"),
                        eol,
                    });
                }
                add.push(Line {
                    text: key_line,
                    eol,
                });
                lines.splice(pos..pos, add);
            })
        } else {
            let key_line = new_key_line("", key, value);
            self.edited(|lines, eol| {
                // Always a blank line before the new section (none in an empty file), so that `remove` can take
                // exactly what we added.
                if !lines.is_empty() {
                    lines.push(Line {
                        text: String::new(),
                        eol,
                    });
                }
                lines.push(Line {
                    text: format!("[{section}]"),
                    eol,
                });
                if let Some(c) = &comment {
                    lines.push(Line {
                        text: c.clone(),
                        eol,
                    });
                }
                lines.push(Line {
                    text: key_line,
                    eol,
                });
            })
        };
        let new = new.map_err(|_| bug(&self.path, "the edited file would not parse"))?;
        if new.get(section, key).as_deref() != Some(value)
            || new.raw_view(section, &nk).0 != self.raw_view(section, &nk).0
            || new.raw_view(section, &nk).1 != self.raw_view(section, &nk).1
        {
            return Err(bug(
                &self.path,
                "the edit would have changed other settings",
            ));
        }
        *self = new;
        Ok(())
    }

    /// Removes every occurrence of `key` (any spelling pip treats as the same) from `section`, with its
    /// continuation lines and the `# ca-login:` comment directly above it. When that leaves the file's last
    /// section empty with its header (exactly `[section]`) as the file's last line, the header goes too, with the
    /// blank line before it: after a `set` that added the key or the section, `remove` gives back the original
    /// bytes. (A user's own empty `[section]` at the very end of the file, into which `set` put the key, is removed
    /// as well; pip reads the file the same either way.) Returns whether a key was removed.
    pub fn remove(&mut self, section: &str, key: &str) -> Result<bool> {
        self.check_args(section, key, None, None)?;
        let nk = normalize_key(key);
        let found = self.matches(section, &nk);
        if found.is_empty() {
            return Ok(false);
        }
        let mut del: Vec<usize> = Vec::new();
        for &o in &found {
            let opt = &self.options[o];
            del.push(opt.line);
            del.extend(&opt.cont);
            if opt.line > 0 && is_our_comment(&self.lines[opt.line - 1].text) {
                del.push(opt.line - 1);
            }
        }
        // A section `set` created is the last thing in the file, `[name]` exactly, after one blank line.
        let mut with_headers = del.clone();
        if let Some(last) = self.blocks.last() {
            let header = last.header;
            let emptied = (header + 1..self.lines.len()).all(|i| del.contains(&i));
            if last.name == section && emptied && self.lines[header].text == format!("[{section}]")
            {
                with_headers.push(header);
                if header > 0 && py_strip(&self.lines[header - 1].text).is_empty() {
                    with_headers.push(header - 1);
                }
            }
        }
        let apply = |mut d: Vec<usize>| {
            d.sort_unstable();
            d.dedup();
            self.edited(|lines, _| {
                for &i in d.iter().rev() {
                    lines.remove(i);
                }
            })
        };
        let expected = self.raw_view(section, &nk);
        for attempt in [with_headers, del] {
            if let Ok(new) = apply(attempt) {
                if new.get(section, key).is_none() && new.raw_view(section, &nk) == expected {
                    *self = new;
                    return Ok(true);
                }
            }
        }
        Err(bug(
            &self.path,
            "removing the key would have changed other settings",
        ))
    }
}

// ---------------------------------------------------------------------------------------------------------------
// [global] extra-index-url: our one entry in pip's list
// ---------------------------------------------------------------------------------------------------------------

/// The key of pip's list of extra indexes.
pub const EXTRA_KEY: &str = "extra-index-url";

/// A URL without its userinfo and with a trailing slash on its path: what tells two entries for one repository
/// apart from entries for others, whatever credentials they carry.
fn bare_index(url: &str) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    u.set_username("").ok()?;
    u.set_password(None).ok()?;
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Some(u.to_string())
}

/// Whether one entry of `extra-index-url` is the repository's simple index `simple` (with or without
/// credentials).
pub fn is_our_extra_entry(entry: &str, simple: &str) -> bool {
    match (bare_index(entry), bare_index(simple)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// One entry of the list, where it sits: `line` (the key line or a continuation line), byte range in its text.
#[derive(Debug, Clone, Copy)]
struct ListEntry {
    line: usize,
    start: usize,
    end: usize,
    /// The only entry on its line.
    alone: bool,
    /// On the key line itself.
    key_line: bool,
}

impl Document {
    /// `[global] extra-index-url`'s option (the last spelling, as pip uses it) and its entries in file order.
    fn extra_entries(&self) -> Option<(usize, Vec<ListEntry>)> {
        let o = *self.matches("global", EXTRA_KEY).last()?;
        let opt = &self.options[o];
        let mut out = Vec::new();
        let regions = std::iter::once((opt.line, opt.value_start))
            .chain(opt.cont.iter().map(|&c| (c, 0)))
            .collect::<Vec<_>>();
        for (line, from) in regions {
            let text = &self.lines[line].text;
            let mut start = None;
            for (i, c) in text[from..].char_indices() {
                match (py_is_space(c), start) {
                    (true, Some(s)) => {
                        out.push((line, s, from + i));
                        start = None;
                    }
                    (false, None) => start = Some(from + i),
                    _ => {}
                }
            }
            if let Some(s) = start {
                out.push((line, s, text.len()));
            }
        }
        // Entries per line, counted once (a count per entry would be quadratic in a long list).
        let mut per_line = std::collections::HashMap::<usize, usize>::new();
        for e in &out {
            *per_line.entry(e.0).or_default() += 1;
        }
        let count_on = |l: usize| per_line.get(&l).copied().unwrap_or(0);
        let entries = out
            .iter()
            .map(|&(line, start, end)| ListEntry {
                line,
                start,
                end,
                alone: count_on(line) == 1,
                key_line: line == opt.line,
            })
            .collect();
        Some((o, entries))
    }

    fn entry_text(&self, e: &ListEntry) -> &str {
        &self.lines[e.line].text[e.start..e.end]
    }

    /// The entries of `[global] extra-index-url`, as pip splits them.
    pub fn extra_index_urls(&self) -> Vec<String> {
        self.extra_entries()
            .map(|(_, es)| es.iter().map(|e| self.entry_text(e).to_string()).collect())
            .unwrap_or_default()
    }

    /// Our entry in `[global] extra-index-url`: the first one for the repository whose simple index is `simple`.
    pub fn our_extra_index_url(&self, simple: &str) -> Option<String> {
        self.extra_index_urls()
            .into_iter()
            .find(|u| is_our_extra_entry(u, simple))
    }

    /// Whether our entry (for `simple`) is alone on its line with a `# ca-login:` comment directly above it: a
    /// login wrote it, even when no record says so.
    pub fn our_extra_is_commented(&self, simple: &str) -> bool {
        self.extra_entries().is_some_and(|(_, es)| {
            es.iter().any(|e| {
                e.alone
                    && e.line > 0
                    && is_our_comment(&self.lines[e.line - 1].text)
                    && is_our_extra_entry(self.entry_text(e), simple)
            })
        })
    }

    /// Whether the line directly above `section`'s `key` (its last spelling) is a `# ca-login:` comment.
    pub fn has_our_comment(&self, section: &str, key: &str) -> bool {
        self.matches(section, &normalize_key(key))
            .last()
            .is_some_and(|&o| {
                let l = self.options[o].line;
                l > 0 && is_our_comment(&self.lines[l - 1].text)
            })
    }

    /// Checks an edit of the list: the file parses, every other setting is as it was, and the list is `want`.
    fn checked_extra(
        &self,
        new: std::result::Result<Document, ParseFail>,
        want: &[String],
    ) -> Result<Document> {
        let new = new.map_err(|_| bug(&self.path, "the edited file would not parse"))?;
        let nk = normalize_key(EXTRA_KEY);
        if new.extra_index_urls() != want
            || new.raw_view("global", &nk) != self.raw_view("global", &nk)
        {
            return Err(bug(
                &self.path,
                "the edit would have changed other settings",
            ));
        }
        Ok(new)
    }

    /// Puts `url` into `[global] extra-index-url` as the repository's one entry, keeping every other entry (and
    /// the credentials in them), comment and line byte for byte:
    /// - an entry for the same repository (`simple`, whatever its credentials) is replaced in place, and a
    ///   `# ca-login:` comment directly above its line gets `comment`; further entries for it are removed;
    /// - else, when the key is there, `url` goes on a new continuation line after the list's last line, with
    ///   `comment` on an indented line above it;
    /// - else the key is added (as [`Document::set`] adds one) with `comment` above it.
    ///
    /// [`Document::remove_extra_index`] takes exactly that back.
    pub fn set_extra_index(&mut self, url: &str, simple: &str, comment: &str) -> Result<()> {
        self.check_args("global", EXTRA_KEY, Some(url), Some(comment))?;
        if url.is_empty() || url.contains(py_is_space) || !is_our_extra_entry(url, simple) {
            return Err(Error::config(
                &self.path,
                format!(
                    "refusing to write an {EXTRA_KEY} entry that is not one URL of the repository"
                ),
                "this is a bug in the caller; please report it",
            ));
        }
        let comment = {
            let c = py_strip(comment);
            if c.starts_with(COMMENT_PREFIX) {
                c.to_string()
            } else {
                format!("{COMMENT_PREFIX} {c}")
            }
        };
        // Never two of ours: drop every later one first (bounded by the list's length).
        for _ in 0..self.extra_index_urls().len() {
            let Some((_, es)) = self.extra_entries() else {
                break;
            };
            let ours: Vec<ListEntry> = es
                .iter()
                .copied()
                .filter(|e| is_our_extra_entry(self.entry_text(e), simple))
                .collect();
            if ours.len() < 2 {
                break;
            }
            self.remove_extra_entry(ours[ours.len() - 1])?;
        }
        let Some((o, es)) = self.extra_entries() else {
            return self.set("global", EXTRA_KEY, url, Some(&comment));
        };
        let all: Vec<String> = es.iter().map(|e| self.entry_text(e).to_string()).collect();
        let found = es
            .iter()
            .position(|e| is_our_extra_entry(self.entry_text(e), simple));
        let mut want = all.clone();
        let new = match found {
            Some(i) => {
                let e = es[i];
                want[i] = url.to_string();
                self.edited(|lines, _| {
                    let t = &mut lines[e.line].text;
                    t.replace_range(e.start..e.end, url);
                    if e.alone && e.line > 0 && is_our_comment(&lines[e.line - 1].text) {
                        let indent = indent_of(&lines[e.line - 1].text).to_string();
                        lines[e.line - 1].text = format!("{indent}{comment}");
                    }
                })
            }
            None => {
                let opt = self.options[o].clone();
                let last = opt.cont.last().copied().unwrap_or(opt.line);
                let indent = match opt.cont.last() {
                    Some(&c) => indent_of(&self.lines[c].text).to_string(),
                    None => format!("{}    ", indent_of(&self.lines[opt.line].text)),
                };
                want.push(url.to_string());
                self.edited(|lines, eol| {
                    let add = [format!("{indent}{comment}"), format!("{indent}{url}")]
                        .map(|text| Line { text, eol });
                    lines.splice(last + 1..last + 1, add);
                })
            }
        };
        *self = self.checked_extra(new, &want)?;
        Ok(())
    }

    /// Takes one entry out of the list: its line (and a `# ca-login:` comment directly above it) when it is alone
    /// on a continuation line; the key (as [`Document::remove`] does) when it was the list's only entry, on the
    /// key line; else only the entry and the spaces between it and its neighbour on the line.
    fn remove_extra_entry(&mut self, e: ListEntry) -> Result<()> {
        let Some((_, es)) = self.extra_entries() else {
            return Ok(());
        };
        let Some(i) = es
            .iter()
            .position(|x| x.line == e.line && x.start == e.start)
        else {
            return Ok(());
        };
        let mut want: Vec<String> = es.iter().map(|x| self.entry_text(x).to_string()).collect();
        want.remove(i);
        if want.is_empty() && e.key_line {
            self.remove("global", EXTRA_KEY)?;
            return Ok(());
        }
        let ours_above = e.line > 0 && is_our_comment(&self.lines[e.line - 1].text);
        let prev = (i > 0 && es[i - 1].line == e.line).then(|| es[i - 1]);
        let next = es.get(i + 1).filter(|x| x.line == e.line).copied();
        let new = self.edited(|lines, _| {
            let t = &mut lines[e.line].text;
            match (prev, next) {
                (Some(p), _) => t.replace_range(p.end..e.end, ""),
                (None, Some(n)) => t.replace_range(e.start..n.start, ""),
                (None, None) => {
                    if e.key_line {
                        // `key = ours` with the list going on below: `key =` stays.
                        let cut = py_rstrip(&t[..e.start]).len();
                        t.replace_range(cut..e.end, "");
                    } else {
                        lines.remove(e.line);
                    }
                    if ours_above {
                        lines.remove(e.line - 1);
                    }
                }
            }
        });
        *self = self.checked_extra(new, &want)?;
        Ok(())
    }

    /// Logout without a record of the login: removes each entry that carries a CodeArtifact token and sits alone
    /// on its line under a `# ca-login:` comment (a login wrote it), with that comment. Returns whether one went.
    pub fn remove_commented_token_extras(&mut self) -> Result<bool> {
        let mut removed = false;
        for _ in 0..=self.extra_index_urls().len() {
            let Some((_, es)) = self.extra_entries() else {
                break;
            };
            let Some(e) = es.iter().copied().find(|e| {
                e.alone
                    && e.line > 0
                    && is_our_comment(&self.lines[e.line - 1].text)
                    && crate::secret::carries_codeartifact_token(self.entry_text(e))
            }) else {
                break;
            };
            self.remove_extra_entry(e)?;
            removed = true;
        }
        Ok(removed)
    }

    /// Removes our entries (those for the repository whose simple index is `simple`) from `[global]
    /// extra-index-url`, keeping every other entry, comment and byte; after [`Document::set_extra_index`], gives
    /// back the original bytes. Returns whether one was removed.
    pub fn remove_extra_index(&mut self, simple: &str) -> Result<bool> {
        let mut removed = false;
        for _ in 0..=self.extra_index_urls().len() {
            let Some((_, es)) = self.extra_entries() else {
                break;
            };
            let Some(e) = es
                .iter()
                .copied()
                .find(|e| is_our_extra_entry(self.entry_text(e), simple))
            else {
                break;
            };
            self.remove_extra_entry(e)?;
            removed = true;
        }
        Ok(removed)
    }
}

/// For a login recorded in extra-index mode, `status`'s view of pip: whether `file`'s `[global] extra-index-url`
/// holds our entry for `repository_endpoint`; whether `pip install` will use it (its effective extra-index-url
/// list comes from `file`, holds that entry, and no-index is off: `PIP_EXTRA_INDEX_URL` or another file's list
/// wins outright, pip takes one list, not their union); the URL pip asks besides its index-url (ours, or the
/// first of the winning list), masked; and where that list comes from.
pub fn holds_our_extra(
    file: &Path,
    ctx: &PipContext,
    repository_endpoint: &str,
) -> (bool, bool, Option<String>, String) {
    let simple = crate::tools::simple_url(repository_endpoint);
    let ours = match read_document(file) {
        Ok(Some(d)) => d.our_extra_index_url(&simple),
        _ => None,
    };
    let Ok(eff) = effective_index_url(ctx, "install") else {
        return (ours.is_some(), false, None, "unknown".into());
    };
    let from_file = matches!(&eff.extra_source, Source::File { path, .. } if path == file);
    let listed = eff
        .extra_index_urls
        .iter()
        .find(|u| is_our_extra_entry(u, &simple));
    let used = ours.is_some() && from_file && !eff.no_index && listed.is_some();
    let url = listed
        .filter(|_| from_file)
        .or(eff.extra_index_urls.first())
        .map(|u| mask_url(u));
    let source = match &eff.extra_source {
        Source::EnvVar { .. } => crate::login::describe_source(&eff.extra_source),
        Source::File { .. } => format!(
            "extra-index-url, {}",
            crate::login::describe_source(&eff.extra_source)
        ),
        Source::Default => "no extra-index-url set anywhere".into(),
    };
    (ours.is_some(), used, url, source)
}

/// For differential tests against Python's configparser: the raw data, or the error kind and line numbers.
#[cfg(test)]
pub(crate) fn describe_parse(text: &str) -> serde_json::Value {
    use serde_json::json;
    match analyze(&split_lines(text)) {
        Ok((blocks, options)) => {
            let mut names: Vec<String> = Vec::new();
            for b in &blocks {
                if b.name != "DEFAULT" && !names.contains(&b.name) {
                    names.push(b.name.clone());
                }
            }
            let items = |name: &str| -> Vec<serde_json::Value> {
                options
                    .iter()
                    .filter(|o| blocks[o.block].name == name)
                    .map(|o| json!([o.key, o.value]))
                    .collect()
            };
            let sections: Vec<serde_json::Value> =
                names.iter().map(|n| json!([n, items(n)])).collect();
            json!({"ok": {"sections": sections, "defaults": items("DEFAULT")}})
        }
        Err(ParseFail::Bom) => json!({"err": ["missing-header", [1]]}),
        Err(ParseFail::MissingHeader(l)) => json!({"err": ["missing-header", [l]]}),
        Err(ParseFail::DuplicateSection { line, .. }) => {
            json!({"err": ["duplicate-section", [line]]})
        }
        Err(ParseFail::DuplicateOption { line, .. }) => {
            json!({"err": ["duplicate-option", [line]]})
        }
        Err(ParseFail::Syntax(lines)) => json!({"err": ["syntax", lines]}),
    }
}

fn new_key_line(indent: &str, key: &str, value: &str) -> String {
    if value.is_empty() {
        format!("{indent}{key} =")
    } else {
        format!("{indent}{key} = {value}")
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Files: read and update (the I/O itself is crate::files)
// ---------------------------------------------------------------------------------------------------------------

pub use crate::files::{lock, lock_path, write_atomic, FileLock, LOCK_TIMEOUT};

/// The file's text (at most 1 MiB, a regular file); `None` if it does not exist.
fn read_text(path: &Path) -> Result<Option<String>> {
    match files::read_bytes(path, "read pip's configuration")? {
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| not_utf8(path)),
        None => Ok(None),
    }
}

/// Reads and parses a pip configuration file; `Ok(None)` if it does not exist.
pub fn read_document(path: &Path) -> Result<Option<Document>> {
    match read_text(path)? {
        Some(text) => Document::parse(&text, path).map(Some),
        None => Ok(None),
    }
}

/// What [`update_file`] did. Both texts may hold tokens: `Debug` prints only their sizes.
#[derive(Clone, PartialEq, Eq)]
pub struct UpdateOutcome {
    /// The file written: the path asked for with its final links followed (what a rollback restores).
    pub target: PathBuf,
    /// The file's text before, `None` if it did not exist.
    pub previous_text: Option<String>,
    pub new_text: String,
    /// Whether the file was written (false when the edit changed nothing).
    pub written: bool,
}

impl fmt::Debug for UpdateOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateOutcome")
            .field("target", &self.target)
            .field(
                "previous_text",
                &self
                    .previous_text
                    .as_ref()
                    .map(|t| format!("<{} bytes>", t.len())),
            )
            .field("new_text", &format!("<{} bytes>", self.new_text.len()))
            .field("written", &self.written)
            .finish()
    }
}

/// Edits a pip configuration file safely: under the exclusive lock ([`lock`]), re-reads it (missing = empty),
/// parses it, lets `f` edit it, and writes it with [`write_atomic`] if the text changed. Processes racing here
/// each see the previous one's result: none of their edits is lost and the file stays valid.
pub fn update_file(
    path: &Path,
    f: impl FnOnce(&mut Document) -> Result<()>,
) -> Result<UpdateOutcome> {
    let target = files::resolve_target(path)?;
    let _lock = lock(&target)?;
    let previous_text = read_text(&target)?;
    let mut doc = Document::parse(previous_text.as_deref().unwrap_or(""), &target)?;
    f(&mut doc)?;
    let new_text = doc.render();
    let written = match &previous_text {
        Some(p) => *p != new_text,
        None => !new_text.is_empty(),
    };
    if written {
        write_atomic(&target, &new_text)?;
    }
    Ok(UpdateOutcome {
        target,
        previous_text,
        new_text,
        written,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::fs;

    const TOKEN: &str = "eyJ2ZXIiOjEsImlzdSI6MTcwMDAwMDAwMH0.sekrit-token-value";

    fn url(host: &str) -> String {
        format!("https://aws:{TOKEN}@{host}/pypi/isolatedsm/simple/")
    }

    fn p() -> PathBuf {
        PathBuf::from("/tmp/test/pip.conf")
    }

    fn parse(text: &str) -> Document {
        Document::parse(text, &p()).unwrap()
    }

    fn parse_err(text: &str) -> String {
        Document::parse(text, &p()).unwrap_err().to_string()
    }

    const ODD_FILES: &[&str] = &[
        "",
        "\n",
        "# only a comment",
        "# comment\n; another\n\n",
        "[global]\nindex-url = https://a/simple/\n",
        "[global]\r\nindex-url = https://a/simple/\r\ntimeout = 60\r\n",
        "[global]\nindex-url = https://a/simple/",
        "[global]\n\tindex_url\t:\thttps://a/simple/   \n",
        "[global]\nINDEX-URL=https://a/simple/ # not a comment\n",
        "[global]\nextra-index-url =\n    https://b/simple/\n\n    https://c/simple/\n# c\n  ; indented comment\n[install]\ntrusted-host: b\n",
        "[global]\rindex-url = https://a/simple/\rtimeout = 5\r",
        "  [global]\n  timeout = 5\n    more\n",
        "[DEFAULT]\ntimeout = 5\n[global]\n[DEFAULT]\nretries = 3\n",
        "[glöbal]\nschlüssel = wert ünïcode\n",
        "[global]\nkey = value with trailing spaces   \n   \n\n",
        "[a]x]\nk = v\n",
        "[global]\nk =\n",
        "[global]\u{a0}\n\u{2003}k = v\n",
    ];

    /// Files and what Python 3.11's `configparser.RawConfigParser` made of them (raw values, or the error and its
    /// line numbers), picked from a differential run of 8000 random files against Python.
    #[test]
    fn parse_agrees_with_python_configparser_on_recorded_cases() {
        let cases: &[(&str, &str)] = &[
        ("[DEFAULT]\nindex-url =\r    cont\n        deep\n[install]x\n[Global]\r#c\r#c\n", "{\"ok\": {\"sections\": [[\"install\", []], [\"Global\", []]], \"defaults\": [[\"index-url\", \"\\ncont\\ndeep\"]]}}"),
        ("[install]x\nkey with space = v\nINDEX_URL: y\r\n\tcont\n[global] ; c\nkey with space = v\n", "{\"ok\": {\"sections\": [[\"install\", [[\"key with space\", \"v\"], [\"index_url\", \"y\\ncont\"]]], [\"global\", [[\"key with space\", \"v\"]]]], \"defaults\": []}}"),
        ("[install]\nk = v\r\n[DEFAULT]\r\nK = V\r k2 = v2\r\n[global] ; c\n[Global]\r", "{\"ok\": {\"sections\": [[\"install\", [[\"k\", \"v\"]]], [\"global\", []], [\"Global\", []]], \"defaults\": [[\"k\", \"V\\nk2 = v2\"]]}}"),
        ("[DEFAULT]\nINDEX_URL: y\n    cont\r\n  k=v\rx: \r\nindex-url = x\r\n;c\r\na = 1 # inline\n", "{\"ok\": {\"sections\": [], \"defaults\": [[\"index_url\", \"y\\ncont\\nk=v\"], [\"x\", \"\"], [\"index-url\", \"x\"], [\"a\", \"1 # inline\"]]}}"),
        ("[DEFAULT]\r\n\u{85}\n\tk = v\n k2 = v2\n[Global]\r\n[install]\nk : v:w\nindex-url =", "{\"ok\": {\"sections\": [[\"Global\", []], [\"install\", [[\"k\", \"v:w\"], [\"index-url\", \"\"]]]], \"defaults\": [[\"k\", \"v\"], [\"k2\", \"v2\"]]}}"),
        ("[DEFAULT]\nindex-url=https://aws:t@h/x/\n  ; c\r  ; c\r\n  k=v\r\n\tk = v\n;c\r", "{\"ok\": {\"sections\": [], \"defaults\": [[\"index-url\", \"https://aws:t@h/x/\\nk=v\\nk = v\"]]}}"),
        ("[DEFAULT]\nindex-url=https://aws:t@h/x/\n#c\n;c\na = 1 # inline\r\u{1c}k=v\n;c\r\n\u{1c}k=v", "{\"ok\": {\"sections\": [], \"defaults\": [[\"index-url\", \"https://aws:t@h/x/\"], [\"a\", \"1 # inline\\nk=v\\nk=v\"]]}}"),
        ("[global]\rindex-url=https://aws:t@h/x/\n  ; c\nx: \rK = V\n[install]x\r[DEFAULT]\r\nk : v:w\r\na = 1 # inline\r\r", "{\"ok\": {\"sections\": [[\"global\", [[\"index-url\", \"https://aws:t@h/x/\"], [\"x\", \"\"], [\"k\", \"V\"]]], [\"install\", []]], \"defaults\": [[\"k\", \"v:w\"], [\"a\", \"1 # inline\"]]}}"),
        ("[install]\n\r\nK = V\nkey with space = v\rindex-url = x\n  ; c\n   \n  ; c\r\n\r  # c\n", "{\"ok\": {\"sections\": [[\"install\", [[\"k\", \"V\"], [\"key with space\", \"v\"], [\"index-url\", \"x\"]]]], \"defaults\": []}}"),
        ("[global]\r\nindex-url =\n\tcont\r[install]\r\nindex-url = x\rINDEX_URL: y", "{\"ok\": {\"sections\": [[\"global\", [[\"index-url\", \"\\ncont\"]]], [\"install\", [[\"index-url\", \"x\"], [\"index_url\", \"y\"]]]], \"defaults\": []}}"),
        ("[global]\n  ; c\na = 1 # inline\r\n  k=v\n[install]\n\u{1c}k=v\n k2 = v2\r    cont\rindex-url = x", "{\"ok\": {\"sections\": [[\"global\", [[\"a\", \"1 # inline\\nk=v\"]]], [\"install\", [[\"k\", \"v\"], [\"k2\", \"v2\\ncont\"], [\"index-url\", \"x\"]]]], \"defaults\": []}}"),
        ("[DEFAULT]\nindex-url =\n[global] ; c\nkey with space = v\n[install]x\n\tk = v\nindex-url = x\r[DEFAULT]\n", "{\"ok\": {\"sections\": [[\"global\", [[\"key with space\", \"v\"]]], [\"install\", [[\"k\", \"v\"], [\"index-url\", \"x\"]]]], \"defaults\": [[\"index-url\", \"\"]]}}"),
        ("[a]b]\r\n k2 = v2\nindex-url = x\r[global] ; c\r\n k2 = v2\r  [global]\rindex-url = x\n[Global]\n", "{\"ok\": {\"sections\": [[\"a]b\", [[\"k2\", \"v2\"], [\"index-url\", \"x\"]]], [\"global\", [[\"k2\", \"v2\\n[global]\"], [\"index-url\", \"x\"]]], [\"Global\", []]], \"defaults\": []}}"),
        ("[install]\n   \n#c\n#c\nindex-url=https://aws:t@h/x/\r\u{2003}k = v\n    cont\r\n[DEFAULT]\r\nINDEX_URL: y\n", "{\"ok\": {\"sections\": [[\"install\", [[\"index-url\", \"https://aws:t@h/x/\\nk = v\\ncont\"]]]], \"defaults\": [[\"index_url\", \"y\"]]}}"),
        ("[DEFAULT]\rindex-url=https://aws:t@h/x/\r\n[ x ]\r\u{85}\n;c\r\nindex-url=https://aws:t@h/x/\n#c\nk\r", "{\"err\": [\"syntax\", [8]]}"),
        ("[a]b]\n[]\nk\r\nkey with space = v\r\n[ x ]\nk\rindex-url=https://aws:t@h/x/\n[global] ; c\r\n", "{\"err\": [\"syntax\", [2, 3, 6]]}"),
        ("[install]\n    cont\n\tk = v\nINDEX_URL: y\r\na = 1 # inline\r\n  # c\n[DEFAULT]\nindex-url =\n\u{a0}\n[a]b]\n", "{\"err\": [\"syntax\", [2]]}"),
        ("[DEFAULT]\n    cont\r[a]b]\n\tcont\n\u{feff}[global]\n  # c\r   \r    cont\r\n        deep\n[install]x\n", "{\"err\": [\"syntax\", [2, 4, 5, 8, 9]]}"),
        ("index-url = x\r    cont\n    cont\rindex-url =\n[install]x\ra = 1 # inline\r k2 = v2\n", "{\"err\": [\"missing-header\", [1]]}"),
        ("key with space = v\n\u{feff}[global]\ra = 1 # inline\r[Global]\rx: \n   \rx: \r\nindex-url=https://aws:t@h/x/\r\n[]", "{\"err\": [\"missing-header\", [1]]}"),
        ("k = v\nindex-url = x\nindex-url=https://aws:t@h/x/\r[global]\nK = V\ra = 1 # inline", "{\"err\": [\"missing-header\", [1]]}"),
        ("[global]\rk : v:w\r        deep\r\n   \n   \n        deep\n[global] ; c\n\u{1c}k=v\n\u{feff}[global]\n        deep\r\n", "{\"err\": [\"duplicate-section\", [7]]}"),
        ("[DEFAULT]\n        deep\r[global] ; c\n\tcont\n[install]\rindex-url=https://aws:t@h/x/\r\n   \n[install]x\r    cont\na = 1 # inline\n", "{\"err\": [\"duplicate-section\", [8]]}"),
        ("[a]b]\nk\r  k=v\na = 1 # inline\r    cont\r k2 = v2\n k2 = v2\nindex-url = x\r\nindex-url = x", "{\"err\": [\"duplicate-option\", [9]]}"),
        ("[global]\n\tk = v\n        deep\r\n\tk = v\n k2 = v2\r\nindex-url =\r\nINDEX_URL: y\n\u{85}\rkey with space = v\n[global]", "{\"err\": [\"duplicate-option\", [4]]}"),
        ("[install]\n#c\rkey with space = v\r\n[global]\r\n\u{1c}k=v\rINDEX_URL: y\nK = V\r\n        deep\n= v\n    cont\n", "{\"err\": [\"duplicate-option\", [7]]}"),
        ];
        for (text, want) in cases {
            let want: serde_json::Value = serde_json::from_str(want).unwrap();
            assert_eq!(describe_parse(text), want, "on {text:?}");
        }
    }

    #[test]
    fn parse_then_render_is_byte_exact_for_odd_files() {
        for text in ODD_FILES {
            assert_eq!(&parse(text).render(), text, "round trip of {text:?}");
        }
    }

    #[test]
    fn get_matches_keys_as_pip_does_and_joins_continuations_like_configparser() {
        let d = parse("[global]\n\tindex_url\t:\thttps://a/simple/   \n");
        assert_eq!(
            d.get("global", "index-url").as_deref(),
            Some("https://a/simple/")
        );
        assert_eq!(
            d.get("global", "INDEX_URL").as_deref(),
            Some("https://a/simple/")
        );
        let d = parse("[global]\nINDEX-URL=https://a/simple/ # not a comment\n");
        assert_eq!(
            d.get("global", "index-url").as_deref(),
            Some("https://a/simple/ # not a comment")
        );
        let d = parse(ODD_FILES[9]);
        assert_eq!(
            d.get("global", "extra-index-url").as_deref(),
            Some("\nhttps://b/simple/\n\nhttps://c/simple/")
        );
        assert_eq!(d.get("install", "trusted-host").as_deref(), Some("b"));
        // Sections are case-sensitive; keys are not.
        assert_eq!(d.get("Global", "extra-index-url"), None);
        // Lone CR ends a line, as in Python's universal newlines.
        let d = parse("[global]\rindex-url = https://a/simple/\rtimeout = 5\r");
        assert_eq!(d.get("global", "timeout").as_deref(), Some("5"));
        // An indented line deeper than its key continues the value, even one that looks like a key.
        let d = parse("  [global]\n  timeout = 5\n    more\n");
        assert_eq!(d.get("global", "timeout").as_deref(), Some("5\nmore"));
        // Both spellings in one section are two configparser keys; pip uses the later one.
        let d = parse("[global]\nindex-url = https://first/\nindex_url = https://second/\n");
        assert_eq!(
            d.get("global", "index-url").as_deref(),
            Some("https://second/")
        );
        // Python's whitespace: NBSP and EM SPACE count.
        let d = parse("[global]\u{a0}\n\u{2003}k = v\n");
        assert_eq!(d.get("global", "k").as_deref(), Some("v"));
        assert_eq!(d.sections(), vec!["global"]);
    }

    #[test]
    fn parse_rejects_a_duplicate_section_naming_the_line() {
        let e = parse_err("[global]\na = 1\n\n[global]\nb = 2\n");
        assert!(
            e.contains("section [global] appears a second time on line 4"),
            "{e}"
        );
        assert!(e.contains("hint: merge"), "{e}");
        // DEFAULT may appear twice (configparser allows it) but not with the same key twice.
        parse("[DEFAULT]\na = 1\n[DEFAULT]\nb = 2\n");
        let e = parse_err("[DEFAULT]\na = 1\n[DEFAULT]\nA = 2\n");
        assert!(
            e.contains("key 'a' appears a second time in [DEFAULT] on line 4"),
            "{e}"
        );
    }

    #[test]
    fn parse_rejects_a_duplicate_key_compared_lowercased_not_normalized() {
        let e = parse_err(&format!(
            "[global]\nindex-url = {}\nINDEX-URL = {}\n",
            url("h1"),
            url("h2")
        ));
        assert!(
            e.contains("key 'index-url' appears a second time in [global] on line 3"),
            "{e}"
        );
        assert!(!e.contains(TOKEN), "a parse error shows a token");
        // `index_url` and `index-url` differ for configparser: no error.
        parse("[global]\nindex_url = a\nindex-url = b\n");
        // The same key in two sections is fine.
        parse("[global]\nindex-url = a\n[install]\nindex-url = b\n");
    }

    #[test]
    fn parse_rejects_a_key_before_any_section() {
        let e = parse_err(&format!("# hello\n\nindex-url = {}\n[global]\n", url("h")));
        assert!(
            e.contains("line 3 comes before any [section] header"),
            "{e}"
        );
        assert!(!e.contains(TOKEN), "a parse error shows a token");
        // An indented line before any section is not a continuation either.
        let e = parse_err("   x\n");
        assert!(e.contains("line 1 comes before"), "{e}");
    }

    #[test]
    fn parse_rejects_lines_without_delimiter_and_names_all_of_them() {
        let e = parse_err(&format!("[global]\nindex-url aws-{TOKEN}\nok = 1\njunk\n"));
        assert!(
            e.contains("lines 2, 4 are not a [section] header"),
            "{}",
            e.replace(TOKEN, "<token>")
        );
        assert!(!e.contains(TOKEN), "a parse error shows a token");
        // A URL's `:` is a delimiter: `index-url https://...` without `=` is the key `index-url https`.
        let d = parse("[global]\nindex-url https://x/simple/\n");
        assert_eq!(
            d.get("global", "index-url https").as_deref(),
            Some("//x/simple/")
        );
        let e = parse_err("[global]\n= value\n");
        assert!(e.contains("line 2 is not"), "{e}");
        // `[]` is not a header.
        let e = parse_err("[global]\n[]\n");
        assert!(e.contains("line 2 is not"), "{e}");
    }

    #[test]
    fn parse_rejects_a_byte_order_mark_as_pip_does() {
        let e = parse_err("\u{feff}[global]\nindex-url = https://a/\n");
        assert!(e.contains("byte order mark"), "{e}");
        assert!(e.contains("without BOM"), "{e}");
    }

    #[test]
    fn set_replaces_the_value_in_place_and_keeps_every_other_line() {
        let text = "; top comment\r\n[global]\r\ntimeout: 60\r\n# user note\r\nIndex_URL : https://old/simple/\r\n    \
                    https://continued/\r\n\r\n[install]\r\ntrusted-host = x\r\n";
        let mut d = parse(text);
        d.set(
            "global",
            "index-url",
            &url("new"),
            Some("token expires 2026-11-28T23:00:00Z (d/isolatedsm)"),
        )
        .unwrap();
        let want = format!(
            "; top comment\r\n[global]\r\ntimeout: 60\r\n# user note\r\n# ca-login: token expires \
             2026-11-28T23:00:00Z (d/isolatedsm)\r\nIndex_URL : {}\r\n\r\n[install]\r\ntrusted-host = x\r\n",
            url("new")
        );
        assert!(
            d.render() == want,
            "set() changed more than the key (or wrote it wrong)"
        );
        assert_eq!(d.get("global", "index-url"), Some(url("new")));
        assert_eq!(d.get("install", "trusted-host").as_deref(), Some("x"));
    }

    #[test]
    fn set_twice_replaces_our_comment_instead_of_adding_one() {
        let mut d = parse("[global]\ntimeout = 5\n");
        d.set(
            "global",
            "index-url",
            &url("a"),
            Some("# ca-login: token expires at 1"),
        )
        .unwrap();
        d.set("global", "index-url", &url("b"), Some("token expires at 2"))
            .unwrap();
        let out = d.render();
        assert_eq!(out.matches(COMMENT_PREFIX).count(), 1);
        assert!(out.starts_with(
            "[global]\ntimeout = 5\n# ca-login: token expires at 2\nindex-url = https://aws:"
        ));
        assert_eq!(d.get("global", "index-url"), Some(url("b")));
        // comment None removes ours.
        d.set("global", "index-url", "https://pypi.org/simple", None)
            .unwrap();
        assert_eq!(
            d.render(),
            "[global]\ntimeout = 5\nindex-url = https://pypi.org/simple\n"
        );
    }

    #[test]
    fn set_keeps_a_user_comment_above_the_key() {
        let mut d = parse("[global]\n# my mirror\nindex-url = https://mirror/\n");
        d.set("global", "index-url", &url("a"), Some("x")).unwrap();
        assert_eq!(
            d.render(),
            format!(
                "[global]\n# my mirror\n# ca-login: x\nindex-url = {}\n",
                url("a")
            )
        );
    }

    #[test]
    fn set_appends_after_the_sections_last_key_and_before_the_next_section() {
        let mut d = parse(
            "[global]\ntimeout = 5\n  continued\n\n# about install\n[install]\nno-cache-dir = 1\n",
        );
        d.set("global", "index-url", "https://x/simple/", Some("c"))
            .unwrap();
        assert_eq!(
            d.render(),
            "[global]\ntimeout = 5\n  continued\n# ca-login: c\nindex-url = https://x/simple/\n\n# about install\n\
             [install]\nno-cache-dir = 1\n"
        );
    }

    #[test]
    fn set_in_a_section_of_indented_keys_does_not_swallow_the_next_key() {
        let mut d = parse("[global]\n  a = 1\n# c\n  b = 2\n");
        d.set("global", "index-url", "https://x/", None).unwrap();
        assert_eq!(
            d.render(),
            "[global]\n  a = 1\n# c\n  b = 2\n  index-url = https://x/\n"
        );
        assert_eq!(d.get("global", "b").as_deref(), Some("2"));
        // Empty section followed by an indented header: our key must not make that header a continuation.
        let mut d = parse("[global]\n  [install]\n  a = 1\n");
        d.set("global", "index-url", "https://x/", None).unwrap();
        assert_eq!(d.sections(), vec!["global", "install"]);
        assert_eq!(d.get("install", "a").as_deref(), Some("1"));
    }

    #[test]
    fn set_creates_the_section_at_the_end_and_keeps_a_missing_final_newline_missing() {
        let mut d = parse("[install]\nno-cache-dir = 1");
        d.set("global", "index-url", "https://x/", Some("c"))
            .unwrap();
        assert_eq!(
            d.render(),
            "[install]\nno-cache-dir = 1\n\n[global]\n# ca-login: c\nindex-url = https://x/"
        );
        let mut d = parse("");
        d.set("global", "index-url", "https://x/", None).unwrap();
        assert_eq!(d.render(), "[global]\nindex-url = https://x/\n");
    }

    #[test]
    fn set_then_remove_gives_back_the_original_bytes() {
        let cases = [
            "",
            "# only a comment\n",
            "# only a comment",
            "[install]\nno-cache-dir = 1",
            "[install]\r\nno-cache-dir = 1\r\n",
            "[global]\ntimeout = 5\n\n[install]\nx = 1\n",
            "[global]\n  a = 1\n    cont\n# c\n  b = 2\n",
            "[DEFAULT]\nretries = 3\n[global]\ntimeout = 5\n",
            "[global]\rtimeout = 5\r",
        ];
        for text in cases {
            let mut d = parse(text);
            d.set("global", "index-url", &url("h"), Some("token expires soon"))
                .unwrap();
            assert_ne!(d.render(), text);
            assert!(d.remove("global", "index-url").unwrap());
            assert!(
                d.render() == text,
                "set+remove did not restore {:?}",
                text.replace(TOKEN, "<token>")
            );
        }
    }

    #[test]
    fn remove_takes_every_spelling_and_its_continuations_and_reports_absence() {
        let mut d = parse("[global]\nindex_url = a\n  b\nINDEX-URL-X = keep\nindex-url = c\n[install]\nindex-url = d\n");
        assert!(d.remove("global", "index-url").unwrap());
        assert_eq!(
            d.render(),
            "[global]\nINDEX-URL-X = keep\n[install]\nindex-url = d\n"
        );
        assert!(!d.remove("global", "index-url").unwrap());
        assert!(!d.remove("nosuch", "index-url").unwrap());
    }

    #[test]
    fn remove_keeps_a_section_that_still_has_comments() {
        let mut d = parse("[global]\n# keep me\nindex-url = a\n");
        d.remove("global", "index-url").unwrap();
        assert_eq!(d.render(), "[global]\n# keep me\n");
    }

    #[test]
    fn set_refuses_values_that_would_break_the_file_without_showing_them() {
        let mut d = parse("[global]\n");
        let bad = format!("{}\n[evil]\nx = 1", url("h"));
        let e = d
            .set("global", "index-url", &bad, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line break"), "{}", e.replace(TOKEN, "<token>"));
        assert!(!e.contains(TOKEN), "the error shows the token");
        assert!(d.set("global", "a=b", "v", None).is_err());
        assert!(d.set("global", "k", " v", None).is_err());
        assert!(d.set("glo\nbal", "k", "v", None).is_err());
        assert!(d.set("global", "k", "v", Some("two\nlines")).is_err());
        assert_eq!(d.render(), "[global]\n");
    }

    #[test]
    fn debug_output_never_shows_values() {
        let d = parse(&format!("[global]\nindex-url = {}\n", url("h")));
        assert!(
            !format!("{d:?}").contains(TOKEN),
            "Document's Debug shows the token"
        );
        let mut ctx = PipContext::new("/nonexistent");
        ctx.env.push(("PIP_INDEX_URL".into(), url("h")));
        assert!(
            !format!("{ctx:?}").contains(TOKEN),
            "PipContext's Debug shows the token"
        );
        let out = UpdateOutcome {
            target: PathBuf::from("/p/pip.conf"),
            previous_text: Some(d.render()),
            new_text: d.render(),
            written: true,
        };
        assert!(
            !format!("{out:?}").contains(TOKEN),
            "UpdateOutcome's Debug shows the token"
        );
    }

    // ----- which files, and what pip install uses -----

    struct Env {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        ctx: PipContext,
    }

    impl Env {
        fn new() -> Env {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().to_path_buf();
            let mut ctx = PipContext::new(root.join("home"));
            ctx.global_dirs = Some(vec![root.join("etc/xdg/pip"), root.join("etc")]);
            ctx.sys_prefix = Some(root.join("venv"));
            fs::create_dir_all(root.join("home")).unwrap();
            fs::create_dir_all(root.join("venv")).unwrap();
            Env {
                _tmp: tmp,
                root,
                ctx,
            }
        }
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, text).unwrap();
            p
        }
        fn effective(&self) -> Effective {
            effective_index_url(&self.ctx, "install").unwrap()
        }
    }

    fn file_src(kind: Kind, path: &Path, section: &str) -> Source {
        Source::File {
            kind,
            path: path.to_path_buf(),
            section: section.into(),
        }
    }

    #[test]
    fn global_dirs_follow_xdg_config_dirs_then_etc() {
        let mut ctx = PipContext::new("/home/u");
        assert_eq!(
            global_config_dirs(&ctx),
            vec![PathBuf::from("/etc/xdg/pip"), PathBuf::from("/etc")]
        );
        ctx.xdg_config_dirs = Some("  ".into());
        assert_eq!(
            global_config_dirs(&ctx),
            vec![PathBuf::from("/etc/xdg/pip"), PathBuf::from("/etc")]
        );
        ctx.xdg_config_dirs = Some("/a:~/b:/c/".into());
        assert_eq!(
            global_config_dirs(&ctx),
            ["/a/pip", "/home/u/b/pip", "/c/pip", "/etc"]
                .iter()
                .map(PathBuf::from)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn user_files_are_legacy_then_xdg_config_home() {
        let mut ctx = PipContext::new("/home/u");
        assert_eq!(
            user_config_files(&ctx),
            [
                PathBuf::from("/home/u/.pip/pip.conf"),
                PathBuf::from("/home/u/.config/pip/pip.conf")
            ]
        );
        ctx.xdg_config_home = Some(PathBuf::from("/x/cfg"));
        assert_eq!(
            user_config_files(&ctx)[1],
            PathBuf::from("/x/cfg/pip/pip.conf")
        );
        ctx.xdg_config_home = Some(PathBuf::from(" "));
        assert_eq!(
            user_config_files(&ctx)[1],
            PathBuf::from("/home/u/.config/pip/pip.conf")
        );
    }

    #[test]
    fn config_files_in_precedence_order_and_pip_config_file_rules() {
        let mut env = Env::new();
        let r = env.root.clone();
        let all = config_files(&env.ctx);
        assert_eq!(
            all,
            vec![
                (Kind::Global, r.join("etc/xdg/pip/pip.conf")),
                (Kind::Global, r.join("etc/pip.conf")),
                (Kind::User, r.join("home/.pip/pip.conf")),
                (Kind::User, r.join("home/.config/pip/pip.conf")),
                (Kind::Site, r.join("venv/pip.conf")),
            ]
        );
        // PIP_CONFIG_FILE naming a missing file: user files still read.
        env.ctx.pip_config_file = Some(r.join("missing.conf"));
        assert_eq!(config_files(&env.ctx).len(), 6);
        // ... naming an existing file: user files skipped.
        let envf = env.write("env.conf", "");
        env.ctx.pip_config_file = Some(envf.clone());
        let files = config_files(&env.ctx);
        assert!(files.iter().all(|(k, _)| *k != Kind::User));
        assert_eq!(files.last(), Some(&(Kind::EnvFile, envf)));
        // /dev/null: nothing at all.
        env.ctx.pip_config_file = Some(PathBuf::from("/dev/null"));
        assert!(config_files(&env.ctx).is_empty());
    }

    #[test]
    fn default_target_is_the_site_file_only_when_it_exists() {
        let env = Env::new();
        assert_eq!(
            default_target(&env.ctx),
            env.root.join("home/.config/pip/pip.conf")
        );
        let site = env.write("venv/pip.conf", "");
        assert_eq!(default_target(&env.ctx), site);
        let mut ctx = env.ctx.clone();
        ctx.sys_prefix = None;
        assert_eq!(
            default_target(&ctx),
            env.root.join("home/.config/pip/pip.conf")
        );
    }

    #[test]
    fn effective_index_url_follows_file_precedence_then_env_var() {
        let mut env = Env::new();
        assert_eq!(env.effective().index_url, None);
        assert_eq!(env.effective().source, Source::Default);
        let g1 = env.write(
            "etc/xdg/pip/pip.conf",
            "[global]\nindex-url = https://g1/\n",
        );
        assert_eq!(
            env.effective().source,
            file_src(Kind::Global, &g1, "global")
        );
        let g2 = env.write("etc/pip.conf", "[global]\nindex-url = https://g2/\n");
        assert_eq!(env.effective().index_url.as_deref(), Some("https://g2/"));
        let legacy = env.write(
            "home/.pip/pip.conf",
            "[global]\nindex_url = https://legacy/\n",
        );
        assert_eq!(
            env.effective().source,
            file_src(Kind::User, &legacy, "global")
        );
        let user = env.write(
            "home/.config/pip/pip.conf",
            "[global]\nINDEX-URL = https://user/\n",
        );
        assert_eq!(env.effective().index_url.as_deref(), Some("https://user/"));
        let site = env.write("venv/pip.conf", "[global]\nindex-url: https://site/\n");
        let e = env.effective();
        assert_eq!(e.index_url.as_deref(), Some("https://site/"));
        assert_eq!(
            e.shadowed,
            vec![
                file_src(Kind::User, &user, "global"),
                file_src(Kind::User, &legacy, "global"),
                file_src(Kind::Global, &g2, "global"),
                file_src(Kind::Global, &g1, "global"),
            ]
        );
        let envf = env.write("env.conf", "[global]\nindex-url = https://envfile/\n");
        env.ctx.pip_config_file = Some(envf.clone());
        let e = env.effective();
        assert_eq!(e.source, file_src(Kind::EnvFile, &envf, "global"));
        // The user files are not even read now.
        assert!(!e.shadowed.contains(&file_src(Kind::User, &user, "global")));
        assert!(e.shadowed.contains(&file_src(Kind::Site, &site, "global")));
        env.ctx
            .env
            .push(("PIP_INDEX_URL".into(), "https://envvar/".into()));
        let e = env.effective();
        assert_eq!(e.index_url.as_deref(), Some("https://envvar/"));
        assert_eq!(
            e.source,
            Source::EnvVar {
                name: "PIP_INDEX_URL".into()
            }
        );
        // PIP_CONFIG_FILE=/dev/null: no file at all, the env var still counts.
        env.ctx.pip_config_file = Some("/dev/null".into());
        let e = env.effective();
        assert!(e.files_read.is_empty());
        assert_eq!(e.shadowed, vec![]);
        env.ctx.env.clear();
        assert_eq!(env.effective().index_url, None);
    }

    #[test]
    fn effective_command_section_beats_global_across_files() {
        let env = Env::new();
        let g = env.write(
            "etc/pip.conf",
            "[install]\nindex-url = https://global-install/\n",
        );
        let site = env.write(
            "venv/pip.conf",
            "[global]\nindex-url = https://site-global/\n",
        );
        let e = env.effective();
        // pip merges per section.key: [install] from the lowest file beats [global] from the highest.
        assert_eq!(e.index_url.as_deref(), Some("https://global-install/"));
        assert_eq!(e.source, file_src(Kind::Global, &g, "install"));
        assert_eq!(e.shadowed, vec![file_src(Kind::Site, &site, "global")]);
        // For another command the [install] section does not apply.
        let e = effective_index_url(&env.ctx, "download").unwrap();
        assert_eq!(e.index_url.as_deref(), Some("https://site-global/"));
    }

    #[test]
    fn effective_empty_value_in_a_higher_file_hides_the_lower_one() {
        let env = Env::new();
        env.write(
            "home/.config/pip/pip.conf",
            "[global]\nindex-url = https://user/\n",
        );
        env.write("venv/pip.conf", "[global]\nindex-url =\n");
        assert_eq!(env.effective().index_url, None);
    }

    #[test]
    fn effective_default_section_applies_to_existing_sections_and_aliases_count() {
        let env = Env::new();
        let u = env.write(
            "home/.config/pip/pip.conf",
            "[DEFAULT]\nindex-url = https://dflt/\n[global]\ntimeout = 5\n",
        );
        let e = env.effective();
        assert_eq!(e.index_url.as_deref(), Some("https://dflt/"));
        assert_eq!(e.source, file_src(Kind::User, &u, "DEFAULT"));
        // Without any real section, DEFAULT applies to nothing.
        env.write(
            "home/.config/pip/pip.conf",
            "[DEFAULT]\nindex-url = https://dflt/\n",
        );
        assert_eq!(env.effective().index_url, None);
        env.write(
            "home/.config/pip/pip.conf",
            "[global]\npypi-url = https://alias/\n",
        );
        assert_eq!(env.effective().index_url.as_deref(), Some("https://alias/"));
    }

    #[test]
    fn effective_reports_extra_index_urls_and_no_index() {
        let mut env = Env::new();
        let u = env.write(
            "home/.config/pip/pip.conf",
            "[global]\nextra-index-url =\n  https://b/\n  https://c/\nno-index = yes\n",
        );
        let e = env.effective();
        assert_eq!(
            e.extra_index_urls,
            vec!["https://b/".to_string(), "https://c/".to_string()]
        );
        assert_eq!(e.extra_source, file_src(Kind::User, &u, "global"));
        assert!(e.no_index);
        env.ctx.env.push(("PIP_NO_INDEX".into(), "off".into()));
        assert!(!env.effective().no_index);
        env.ctx.env[0].1 = "maybe".into();
        let err = effective_index_url(&env.ctx, "install")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("$PIP_NO_INDEX") && err.contains("not a boolean"),
            "{err}"
        );
    }

    #[test]
    fn effective_skips_unreadable_files_and_fails_on_unparsable_ones() {
        let env = Env::new();
        // A directory where a file should be: pip skips it silently.
        fs::create_dir_all(env.root.join("home/.config/pip/pip.conf")).unwrap();
        env.write("etc/pip.conf", "[global]\nindex-url = https://g/\n");
        let e = env.effective();
        assert_eq!(e.index_url.as_deref(), Some("https://g/"));
        assert_eq!(
            e.unreadable,
            vec![(Kind::User, env.root.join("home/.config/pip/pip.conf"))]
        );
        let bad = env.write("venv/pip.conf", &format!("index-url = {}\n", url("h")));
        let err = effective_index_url(&env.ctx, "install").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&bad.display().to_string()),
            "{}",
            text.replace(TOKEN, "<token>")
        );
        assert!(!text.contains(TOKEN), "the error shows the token");
    }

    // ----- extra-index-url: our one entry in the list -----

    const OURS: &str =
        "https://d-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/r/simple/";

    fn our_url(token: &str) -> String {
        OURS.replace("https://", &format!("https://aws:{token}@"))
    }

    /// The list pip makes of `[global] extra-index-url` (configparser's value split on whitespace).
    fn pip_list(d: &Document) -> Vec<String> {
        d.get("global", EXTRA_KEY)
            .map(|v| {
                v.split(py_is_space)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn extra_set_then_remove_gives_back_the_original_bytes() {
        let cases = [
            "",
            "# only a comment",
            "[install]\nno-cache-dir = 1",
            "[global]\r\ntimeout = 5\r\n",
            "[global]\rtimeout = 5\r",
            "[global]\nextra-index-url = https://bob:pw@mirror.example/simple/\n",
            "[global]\nextra-index-url = https://bob:pw@mirror.example/simple/",
            "[global]\r\nextra-index-url =\r\n    https://a.example/simple/\r\n\r\n    # user's note\r\n    https://b.example/simple/ https://c.example/simple/\r\n[install]\r\nx = 1\r\n",
            "[global]\n  extra_index_url : https://a.example/simple/\n      https://b.example/simple/\n  timeout = 5\n",
            "[global]\nextra-index-url =\n",
            "[global]\nextra-index-url = https://a.example/simple/\n; comment\ntimeout = 5\n",
        ];
        for text in cases {
            let mut d = parse(text);
            let before = pip_list(&d);
            d.set_extra_index(&our_url(TOKEN), OURS, "token for d/r expires soon")
                .unwrap();
            let after = d.render();
            let mut want = before.clone();
            want.push(our_url(TOKEN));
            assert!(pip_list(&d) == want, "pip's list after set for {text:?}");
            assert_eq!(after.matches(COMMENT_PREFIX).count(), 1, "{text:?}");
            // pip parses it the same way we do.
            Document::parse(&after, &p()).unwrap();
            assert!(d.remove_extra_index(OURS).unwrap());
            assert!(d.render() == text, "set+remove did not restore {text:?}");
            assert!(!d.remove_extra_index(OURS).unwrap());
        }
    }

    #[test]
    fn extra_set_appends_a_continuation_line_with_the_lists_indentation_and_the_files_line_ends() {
        let mut d = parse(
            "[global]\r\nextra-index-url =\r\n\thttps://a.example/simple/\r\ntimeout = 5\r\n",
        );
        d.set_extra_index(&our_url(TOKEN), OURS, "c").unwrap();
        assert!(
            d.render()
                == format!(
                    "[global]\r\nextra-index-url =\r\n\thttps://a.example/simple/\r\n\t# ca-login: c\r\n\t{}\r\ntimeout = 5\r\n",
                    our_url(TOKEN)
                ),
            "the new entry is not a continuation line after the list"
        );
        assert_eq!(d.get("global", "timeout").as_deref(), Some("5"));
        // A list on the key line only: the new line is indented past the key.
        let mut d =
            parse("[global]\n  extra-index-url = https://a.example/simple/\n  timeout = 5\n");
        d.set_extra_index(OURS, OURS, "c").unwrap();
        assert_eq!(
            d.render(),
            format!(
                "[global]\n  extra-index-url = https://a.example/simple/\n      # ca-login: c\n      {OURS}\n  timeout = 5\n"
            )
        );
        assert_eq!(d.get("global", "timeout").as_deref(), Some("5"));
    }

    #[test]
    fn extra_relogin_replaces_only_our_entry_in_place_and_its_comment() {
        let original = "[global]\nextra-index-url = https://bob:pw@mirror.example/simple/\n    https://c.example/simple/\n";
        let mut d = parse(original);
        d.set_extra_index(&our_url("old-token"), OURS, "expires 1")
            .unwrap();
        d.set_extra_index(&our_url(TOKEN), OURS, "expires 2")
            .unwrap();
        let text = d.render();
        assert_eq!(
            text.matches(OURS.trim_start_matches("https://")).count(),
            1,
            "two entries of ours"
        );
        assert!(!text.contains("old-token") && !text.contains("expires 1"));
        assert!(
            text == format!(
                "{original}    # ca-login: expires 2\n    {}\n",
                our_url(TOKEN)
            ),
            "the re-login changed more than our entry"
        );
        // The netrc store writes our URL without credentials: the same entry.
        d.set_extra_index(OURS, OURS, "netrc").unwrap();
        assert_eq!(text.lines().count(), d.render().lines().count());
        assert!(!d.render().contains(TOKEN));
        d.remove_extra_index(OURS).unwrap();
        assert_eq!(d.render(), original);
    }

    #[test]
    fn extra_an_entry_for_our_repository_among_others_on_one_line_is_replaced_and_removed_with_one_space(
    ) {
        let text = format!(
            "[global]\nextra-index-url = https://a.example/simple/ {} https://b.example/simple/\n",
            our_url("dead-token")
        );
        let mut d = parse(&text);
        d.set_extra_index(&our_url(TOKEN), OURS, "c").unwrap();
        assert_eq!(
            pip_list(&d),
            vec![
                "https://a.example/simple/".to_string(),
                our_url(TOKEN),
                "https://b.example/simple/".to_string()
            ]
        );
        // Not alone on its line: no comment is put between the entries.
        assert!(!d.render().contains(COMMENT_PREFIX));
        d.remove_extra_index(OURS).unwrap();
        assert_eq!(
            d.render(),
            "[global]\nextra-index-url = https://a.example/simple/ https://b.example/simple/\n"
        );
        // First on the line, then last on the line.
        let mut d = parse(&format!(
            "[global]\nextra-index-url = {} https://b/\n",
            our_url("x")
        ));
        d.remove_extra_index(OURS).unwrap();
        assert_eq!(d.render(), "[global]\nextra-index-url = https://b/\n");
        let mut d = parse(&format!(
            "[global]\nextra-index-url =\n    https://b/ {}\n",
            our_url("x")
        ));
        d.remove_extra_index(OURS).unwrap();
        assert_eq!(d.render(), "[global]\nextra-index-url =\n    https://b/\n");
    }

    #[test]
    fn extra_never_two_of_ours_and_other_repositories_or_credentials_are_not_ours() {
        let other_repo = OURS.replace("/pypi/r/", "/pypi/other/");
        let other_user = OURS.replace("https://", "https://alice:her-pw@");
        assert!(
            is_our_extra_entry(&other_user, OURS),
            "same repository, other credentials"
        );
        assert!(!is_our_extra_entry(&other_repo, OURS));
        assert!(is_our_extra_entry(OURS.trim_end_matches('/'), OURS));
        let mut d = parse(&format!(
            "[global]\nextra-index-url =\n    {}\n    {other_repo}\n    {}\n",
            our_url("a"),
            our_url("b")
        ));
        d.set_extra_index(&our_url(TOKEN), OURS, "c").unwrap();
        assert_eq!(pip_list(&d), vec![our_url(TOKEN), other_repo.clone()]);
        d.remove_extra_index(OURS).unwrap();
        assert_eq!(pip_list(&d), vec![other_repo]);
        // Refused: a URL for another repository, or with a space.
        let mut d = parse("[global]\n");
        assert!(d
            .set_extra_index("https://pypi.org/simple/", OURS, "c")
            .is_err());
        assert!(d.set_extra_index(&format!("{OURS} x"), OURS, "c").is_err());
        assert_eq!(d.render(), "[global]\n");
    }

    #[test]
    fn extra_our_entry_on_the_key_line_leaves_the_key_for_the_users_entries_below() {
        let mut d = parse("[global]\ntimeout = 5\n");
        d.set_extra_index(&our_url(TOKEN), OURS, "c").unwrap();
        // The user adds their own entries below ours afterwards.
        let mut text = d.render();
        text.push_str("    https://bob:pw@mirror.example/simple/\n");
        let mut d = parse(&text);
        assert!(d.has_our_comment("global", EXTRA_KEY));
        assert!(d.our_extra_is_commented(OURS));
        d.remove_extra_index(OURS).unwrap();
        assert_eq!(
            d.render(),
            "[global]\ntimeout = 5\nextra-index-url =\n    https://bob:pw@mirror.example/simple/\n"
        );
        assert_eq!(
            pip_list(&d),
            vec!["https://bob:pw@mirror.example/simple/".to_string()]
        );
        // Without our comment, the user's own entry for the repository is found but not marked as ours.
        let d = parse(&format!("[global]\nextra-index-url = {}\n", our_url("x")));
        assert!(!d.our_extra_is_commented(OURS));
        assert_eq!(d.our_extra_index_url(OURS), Some(our_url("x")));
    }

    #[test]
    fn extra_without_a_record_only_commented_codeartifact_token_entries_go() {
        let original = format!(
            "[global]\nextra-index-url = https://a/\n    {}\n",
            our_url("users-own")
        );
        // The user's own entry for the repository (no comment of ours above it) stays.
        let mut d2 = parse(&original);
        assert!(!d2.remove_commented_token_extras().unwrap());
        assert_eq!(d2.render(), original);
        let mut d = parse("[global]\nextra-index-url = https://bob:pw@a/simple/\n");
        d.set_extra_index(&our_url(TOKEN), OURS, "c").unwrap();
        assert!(d.remove_commented_token_extras().unwrap());
        assert_eq!(
            d.render(),
            "[global]\nextra-index-url = https://bob:pw@a/simple/\n"
        );
        let mut d = parse("[global]\ntimeout = 5\n");
        d.set_extra_index(&our_url(TOKEN), OURS, "c").unwrap();
        assert!(d.remove_commented_token_extras().unwrap());
        assert_eq!(d.render(), "[global]\ntimeout = 5\n");
    }

    #[test]
    fn extra_edits_never_show_the_token_in_errors() {
        let mut d = parse("[global]\n");
        let e = d
            .set_extra_index(&format!("{}\n[x]", our_url(TOKEN)), OURS, "c")
            .unwrap_err()
            .to_string();
        assert!(!e.contains(TOKEN), "the error shows the token");
    }

    #[test]
    fn extra_logins_from_8_threads_leave_one_entry_of_ours_and_the_users_list() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("pip.conf");
        let original = "[global]\nextra-index-url = https://bob:pw@mirror.example/simple/\n";
        fs::write(&path, original).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for round in 0..5 {
                        update_file(&path, |d| {
                            d.set_extra_index(&our_url(&format!("t{i}r{round}")), OURS, "race")
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let mut d = read_document(&path).unwrap().unwrap();
        let list = pip_list(&d);
        assert_eq!(list.len(), 2, "racing logins left {} entries", list.len());
        assert_eq!(list[0], "https://bob:pw@mirror.example/simple/");
        assert!(list[1].contains("r4@"));
        assert_eq!(d.render().matches(COMMENT_PREFIX).count(), 1);
        d.remove_extra_index(OURS).unwrap();
        assert_eq!(d.render(), original);
    }

    #[test]
    fn holds_our_extra_sees_what_pip_install_uses() {
        let mut env = Env::new();
        let user = env.write(
            "home/.config/pip/pip.conf",
            &format!(
                "[global]\nextra-index-url = https://a/\n    {}\n",
                our_url(TOKEN)
            ),
        );
        let ep = OURS.trim_end_matches("simple/");
        let seen = |env: &Env| {
            let (holds, used, url, _) = holds_our_extra(&user, &env.ctx, ep);
            (holds, used, url)
        };
        let (holds, used, url, source) = holds_our_extra(&user, &env.ctx, ep);
        assert!(holds && used);
        assert_eq!(url.as_deref(), Some(mask_url(&our_url(TOKEN)).as_str()));
        assert!(
            !format!("{url:?}").contains(TOKEN),
            "the URL shown holds the token"
        );
        assert!(
            source.starts_with("extra-index-url, [global] in "),
            "{source}"
        );
        // PIP_EXTRA_INDEX_URL replaces the files' list.
        env.ctx
            .env
            .push(("PIP_EXTRA_INDEX_URL".into(), "https://other/".into()));
        assert_eq!(seen(&env), (true, false, Some("https://other/".into())));
        assert_eq!(
            holds_our_extra(&user, &env.ctx, ep).3,
            "environment variable PIP_EXTRA_INDEX_URL"
        );
        env.ctx.env.clear();
        // So does [install] extra-index-url in a lower file.
        env.write(
            "etc/pip.conf",
            "[install]\nextra-index-url = https://other/\n",
        );
        assert_eq!(seen(&env), (true, false, Some("https://other/".into())));
        env.write("etc/pip.conf", "");
        env.write("venv/pip.conf", "[global]\nno-index = yes\n");
        assert!(!seen(&env).1);
        env.write("venv/pip.conf", "");
        env.write(
            "home/.config/pip/pip.conf",
            "[global]\nextra-index-url = https://a/\n",
        );
        assert_eq!(seen(&env), (false, false, Some("https://a/".into())));
    }

    // ----- updating -----

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn update_file_reports_previous_and_new_text_and_skips_no_op_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("pip/pip.conf");
        let out = update_file(&path, |_| Ok(())).unwrap();
        assert!(!out.written);
        assert!(!path.exists(), "a no-op update created the file");
        let out = update_file(&path, |d| {
            d.set("global", "index-url", "https://x/", Some("c"))
        })
        .unwrap();
        assert_eq!(out.previous_text, None);
        assert!(out.written);
        assert_eq!(fs::read_to_string(&path).unwrap(), out.new_text);
        assert!(tmp.path().join("pip/.pip.conf.ca-login.lock").exists());
        let out = update_file(&path, |d| d.remove("global", "index-url").map(|_| ())).unwrap();
        assert_eq!(out.new_text, "");
        // An error from the edit leaves the file as it was.
        let before = fs::read_to_string(&path).unwrap();
        let err = update_file(&path, |_| Err(Error::config("x", "edit failed", "none")));
        assert!(err.is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), before);
    }

    #[test]
    fn update_file_refuses_an_unparsable_file_and_leaves_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("pip.conf");
        fs::write(&path, "[global]\n[global]\n").unwrap();
        let err =
            update_file(&path, |d| d.set("global", "index-url", "https://x/", None)).unwrap_err();
        assert!(err.to_string().contains("appears a second time"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "[global]\n[global]\n");
    }

    #[test]
    fn update_file_from_8_threads_loses_no_edit() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("pip.conf");
        fs::write(&path, "# user header\n[global]\ntimeout = 5\n").unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for round in 0..5 {
                        update_file(&path, |d| {
                            d.set(
                                "global",
                                "index-url",
                                &format!("https://t{i}/r{round}/"),
                                Some("race"),
                            )?;
                            d.set("install", &format!("key-{i}"), &format!("{round}"), None)
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let text = fs::read_to_string(&path).unwrap();
        let d = Document::parse(&text, &path).unwrap();
        assert!(d.get("global", "index-url").unwrap().ends_with("/r4/"));
        for i in 0..8 {
            assert_eq!(
                d.get("install", &format!("key-{i}")).as_deref(),
                Some("4"),
                "thread {i}'s edit was lost"
            );
        }
        assert_eq!(text.matches(COMMENT_PREFIX).count(), 1);
        assert!(text.starts_with("# user header\n[global]\ntimeout = 5\n"));
        assert!(leftovers(tmp.path()).is_empty());
    }

    /// Run as a child by the test below: one update of the file named by the environment.
    fn child_writer(path: &Path, i: &str) {
        for round in 0..5 {
            update_file(path, |d| {
                d.set(
                    "global",
                    "index-url",
                    &format!("https://p{i}/r{round}/"),
                    Some("race"),
                )?;
                d.set("install", &format!("proc-{i}"), &round.to_string(), None)
            })
            .unwrap();
        }
    }

    #[test]
    fn update_file_from_8_processes_loses_no_edit() {
        if let (Ok(path), Ok(i)) = (
            std::env::var("CA_LOGIN_TEST_CHILD_PATH"),
            std::env::var("CA_LOGIN_TEST_CHILD_I"),
        ) {
            child_writer(Path::new(&path), &i);
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("pip.conf");
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = (0..8)
            .map(|i| {
                std::process::Command::new(&exe)
                    .args([
                        "--exact",
                        "pipconf::tests::update_file_from_8_processes_loses_no_edit",
                        "--test-threads=1",
                    ])
                    .env("CA_LOGIN_TEST_CHILD_PATH", &path)
                    .env("CA_LOGIN_TEST_CHILD_I", i.to_string())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        let text = fs::read_to_string(&path).unwrap();
        let d = Document::parse(&text, &path).unwrap();
        assert!(d.get("global", "index-url").unwrap().ends_with("/r4/"));
        for i in 0..8 {
            assert_eq!(
                d.get("install", &format!("proc-{i}")).as_deref(),
                Some("4"),
                "process {i}'s edit was lost"
            );
        }
        assert!(leftovers(tmp.path()).is_empty());
    }
}
