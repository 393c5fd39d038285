//! Layer 11 (package): why pip says "No matching distribution found" for a requirement. Once the repository read
//! passes, read the project's page with this run's token (PEP 691 JSON, else PEP 503 HTML), apply pip's rules for
//! this interpreter (requires-python, wheel tags, yanked files, pre-releases), and when nothing fits ask the API
//! why: DescribePackage (origin restrictions), ListPackageVersions (statuses), DescribeRepository (upstreams and
//! external connections, one level deep). A denied or failed API call leaves the check's verdict to the page and
//! says which command someone with access can run.

use std::time::{Duration, Instant};

use base64::Engine;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::config::Ctx;
use super::pep440::{Requirement, SpecifierSet, Version};
use super::repo::{connect_for_get, simple_url, GetConn, ReadError};
use super::{tls, Budget, Check, Layer, Outcome, Recorder};
use crate::aws::{self, CallContext};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::settings::Settings;

/// The check's name (one per requirement).
pub const NAME: &str = "package";
/// The most a project page may weigh.
pub const MAX_PAGE: usize = 4 << 20;
const MAX_REDIRECTS: usize = 3;
const JSON_SIMPLE: &str = "application/vnd.pypi.simple.v1+json";

/// The interpreter pip runs in: its version and the wheel tags it takes, most preferred first.
#[derive(Debug, Clone, Default)]
pub struct Interpreter {
    pub python_version: String,
    pub tags: Vec<String>,
}

/// Parse the requirements and check the interpreter before any network call.
pub fn prepare(packages: &[String], interp: Option<&Interpreter>) -> Result<Vec<Requirement>> {
    let reqs = packages
        .iter()
        .map(|p| {
            Requirement::parse(p).map_err(|e| {
                Error::invalid(
                    "package",
                    e.to_string(),
                    "pass a requirement such as package=\"pandas==2.2.3\" (CLI: --package 'pandas==2.2.3'); a URL or a path is not looked up in an index",
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if !reqs.is_empty() {
        let ok = interp.is_some_and(|i| {
            Version::parse(&i.python_version).is_some()
                && !i.tags.is_empty()
                && i.tags.iter().all(|t| t.split('-').count() == 3)
        });
        if !ok {
            return Err(Error::invalid(
                "python_version",
                "checking packages needs this interpreter's version (such as 3.11.7) and its wheel tags (py-abi-platform)",
                "call ca_login.diagnose(package=...) from Python, which passes both",
            ));
        }
    }
    Ok(reqs)
}

// --- HTTP ----------------------------------------------------------------------------------------------------

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    request: &[u8],
) -> std::io::Result<Vec<u8>> {
    s.write_all(request).await?;
    s.flush().await?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 16384];
    loop {
        let n = match s.read(&mut chunk).await {
            Ok(n) => n,
            // A TLS peer that closes without close_notify: what arrived is the answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_PAGE + 65536 {
            return Err(std::io::Error::other(format!(
                "the answer is larger than {} MiB",
                MAX_PAGE >> 20
            )));
        }
        if complete(&buf) {
            break;
        }
    }
    Ok(buf)
}

fn header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Whether the whole answer is in (by Content-Length or the last chunk).
fn complete(buf: &[u8]) -> bool {
    let Some(end) = header_end(buf) else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    if let Some(n) = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        return buf.len() - end >= n;
    }
    if header(&head, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        // Decode only once the last chunk may be in (a large page arrives in many reads).
        return buf.ends_with(b"0\r\n\r\n") && dechunk(&buf[end..]).is_ok();
    }
    false
}

/// Decode a chunked body; `Err` while it is incomplete or malformed.
pub fn dechunk(mut body: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk size line is cut off")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 || out.len() + size > MAX_PAGE {
            return Err("a chunk is cut off or too large".into());
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// Split a raw answer into status, headers and (de-chunked) body.
pub fn parse_answer(bytes: &[u8]) -> std::result::Result<Answer, String> {
    let end = header_end(bytes).ok_or("no complete HTTP header")?;
    let head = String::from_utf8_lossy(&bytes[..end]);
    let line = head.lines().next().unwrap_or("");
    if !line.starts_with("HTTP/") {
        return Err("not an HTTP answer".into());
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let mut body = bytes[end..].to_vec();
    if header(&head, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        body = dechunk(&body)?;
    } else if let Some(n) = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        if body.len() < n {
            return Err(format!("the body is cut off ({} of {n} bytes)", body.len()));
        }
        body.truncate(n);
    }
    if body.len() > MAX_PAGE {
        return Err(format!("the page is larger than {} MiB", MAX_PAGE >> 20));
    }
    Ok(Answer {
        status,
        content_type: header(&head, "content-type")
            .unwrap_or("")
            .to_ascii_lowercase(),
        location: header(&head, "location").map(str::to_string),
        body,
    })
}

async fn get_once(
    url: &str,
    token: &Secret,
    ca_bundle: Option<&str>,
    end: Instant,
) -> std::result::Result<Answer, ReadError> {
    let left = || end.saturating_duration_since(Instant::now());
    let GetConn {
        scheme,
        host,
        stream,
        path,
        host_header,
    } = connect_for_get(url, &left).await?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("aws:{}", token.expose()));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nAuthorization: Basic {auth}\r\nAccept: {JSON_SIMPLE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01\r\nUser-Agent: ca-login/{} diagnose\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let answer = if scheme == "https" {
        let cfg = tls::login_config(ca_bundle).map_err(ReadError::Tls)?;
        let name = ServerName::try_from(host.clone()).map_err(|e| ReadError::Tls(e.to_string()))?;
        let mut s = match tokio::time::timeout(
            left(),
            tokio_rustls::TlsConnector::from(cfg).connect(name, stream),
        )
        .await
        {
            Err(_) => return Err(ReadError::NoAnswer),
            Ok(Err(e)) => return Err(ReadError::Tls(e.to_string())),
            Ok(Ok(s)) => s,
        };
        tokio::time::timeout(left(), exchange(&mut s, request.as_bytes())).await
    } else {
        let mut s = stream;
        tokio::time::timeout(left(), exchange(&mut s, request.as_bytes())).await
    };
    match answer {
        Err(_) => Err(ReadError::NoAnswer),
        Ok(Err(e)) => Err(ReadError::Garbled(e.to_string())),
        Ok(Ok(b)) if b.is_empty() => Err(ReadError::NoAnswer),
        Ok(Ok(b)) => parse_answer(&b).map_err(ReadError::Garbled),
    }
}

/// GET `url` with Basic `aws:TOKEN` within `limit`, following up to three redirects on the same host.
pub async fn fetch(
    url: &str,
    token: &Secret,
    ca_bundle: Option<&str>,
    limit: Duration,
) -> std::result::Result<(Answer, String), ReadError> {
    let end = Instant::now() + limit;
    let mut url = url::Url::parse(url).map_err(|_| ReadError::Garbled("not a URL".into()))?;
    for _ in 0..=MAX_REDIRECTS {
        let a = get_once(url.as_str(), token, ca_bundle, end).await?;
        if !matches!(a.status, 301 | 302 | 303 | 307 | 308) {
            return Ok((a, url.to_string()));
        }
        let loc = a
            .location
            .as_deref()
            .ok_or_else(|| ReadError::Garbled(format!("HTTP {} without a Location", a.status)))?;
        let next = url
            .join(loc)
            .map_err(|_| ReadError::Garbled("a redirect to a bad URL".into()))?;
        if next.host_str() != url.host_str()
            || next.port_or_known_default() != url.port_or_known_default()
        {
            return Err(ReadError::Garbled(format!(
                "a redirect to another host ({}), which pip would follow without the token",
                next.host_str().unwrap_or("?")
            )));
        }
        url = next;
    }
    Err(ReadError::Garbled(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

// --- the project page ----------------------------------------------------------------------------------------

/// One file on a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub filename: String,
    pub requires_python: Option<String>,
    pub yanked: bool,
}

/// A PEP 691 JSON project page.
pub fn parse_json_page(body: &[u8]) -> std::result::Result<Vec<FileEntry>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the JSON page does not parse ({e})"))?;
    let files = v["files"]
        .as_array()
        .ok_or("the JSON page has no files list")?;
    Ok(files
        .iter()
        .filter_map(|f| {
            Some(FileEntry {
                filename: f["filename"].as_str()?.to_string(),
                requires_python: f["requires-python"]
                    .as_str()
                    .map(str::to_string)
                    .filter(|s| !s.trim().is_empty()),
                yanked: match &f["yanked"] {
                    serde_json::Value::Bool(b) => *b,
                    serde_json::Value::String(_) => true,
                    _ => false,
                },
            })
        })
        .collect())
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at > 0 && lower.as_bytes()[at - 1].is_ascii_whitespace();
        let after = lower[from..].chars().next();
        if !before_ok || after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-') {
            continue;
        }
        let rest = lower[from..].trim_start();
        if !rest.starts_with('=') {
            return Some(String::new()); // a bare attribute (data-yanked)
        }
        let start = tag.len() - rest.len() + 1;
        let val = tag[start..].trim_start();
        let out = match val.chars().next() {
            Some(q @ ('"' | '\'')) => val[1..].split(q).next().unwrap_or(""),
            _ => val
                .split(|c: char| c.is_ascii_whitespace() || c == '>')
                .next()
                .unwrap_or(""),
        };
        return Some(unescape(out));
    }
    None
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(n) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(n);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A PEP 503 HTML project page: each `<a>`'s file name (from its href), data-requires-python, data-yanked.
pub fn parse_html_page(body: &[u8]) -> Vec<FileEntry> {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find("<a") {
        let start = from + i;
        let Some(close) = lower[start..].find('>') else {
            break;
        };
        let tag = &text[start..start + close];
        from = start + close + 1;
        if !tag[2..].starts_with(|c: char| c.is_ascii_whitespace()) {
            continue;
        }
        let Some(href) = attr(tag, "href") else {
            continue;
        };
        let path = href.split(['#', '?']).next().unwrap_or("");
        let filename = percent_decode(path.rsplit('/').next().unwrap_or(""));
        if filename.is_empty() {
            continue;
        }
        out.push(FileEntry {
            filename,
            requires_python: attr(tag, "data-requires-python").filter(|s| !s.trim().is_empty()),
            yanked: attr(tag, "data-yanked").is_some(),
        });
    }
    out
}

// --- pip's rules ---------------------------------------------------------------------------------------------

/// What kind of file, and its tags for a wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Wheel {
        pythons: Vec<String>,
        abis: Vec<String>,
        platforms: Vec<String>,
    },
    Sdist,
}

/// A file pip would consider: its version and kind.
#[derive(Debug, Clone)]
pub struct Dist {
    pub file: FileEntry,
    pub version: Version,
    pub kind: Kind,
}

/// The version and kind from a file name; `None` for what pip skips (another project, unknown archive, bad version).
pub fn dist_of(f: &FileEntry, project: &str) -> Option<Dist> {
    let name = f.filename.as_str();
    let (stem_name, version, kind) = if let Some(stem) = name.strip_suffix(".whl") {
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.len() != 5 && parts.len() != 6 {
            return None;
        }
        let n = parts.len();
        let split = |s: &str| s.split('.').map(str::to_string).collect::<Vec<_>>();
        (
            parts[0].to_string(),
            parts[1],
            Kind::Wheel {
                pythons: split(parts[n - 3]),
                abis: split(parts[n - 2]),
                platforms: split(parts[n - 1]),
            },
        )
    } else {
        let stem = [".tar.gz", ".zip", ".tar.bz2", ".tgz"]
            .iter()
            .find_map(|e| name.strip_suffix(e))?;
        let (n, v) = stem.rsplit_once('-')?;
        (n.to_string(), v, Kind::Sdist)
    };
    if super::pep440::normalize(&stem_name) != project {
        return None;
    }
    Some(Dist {
        file: f.clone(),
        version: Version::parse(version)?,
        kind,
    })
}

fn list(v: &[String]) -> String {
    v.join(", ")
}

fn libc_level(platform: &str, family: &str) -> Option<(u32, u32, String)> {
    let rest = platform.strip_prefix(family)?.strip_prefix('_')?;
    let mut it = rest.splitn(3, '_');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor, it.next()?.to_string()))
}

fn legacy_manylinux(p: &str) -> Option<String> {
    for (alias, level) in [
        ("manylinux2014_", "manylinux_2_17_"),
        ("manylinux2010_", "manylinux_2_12_"),
        ("manylinux1_", "manylinux_2_5_"),
    ] {
        if let Some(arch) = p.strip_prefix(alias) {
            return Some(format!("{level}{arch}"));
        }
    }
    None
}

/// A tag split into python, ABI and platform.
type Tag<'a> = (&'a str, &'a str, &'a str);

/// Why a wheel's tags fit none of the interpreter's; `None` when one fits.
pub fn wheel_misfit(
    pythons: &[String],
    abis: &[String],
    platforms: &[String],
    tags: &[String],
) -> Option<String> {
    let parsed: Vec<(&str, &str, &str)> = tags
        .iter()
        .filter_map(|t| {
            let mut it = t.splitn(3, '-');
            Some((it.next()?, it.next()?, it.next()?))
        })
        .collect();
    let fits = parsed.iter().any(|(p, a, pl)| {
        pythons.iter().any(|x| x == p)
            && abis.iter().any(|x| x == a)
            && platforms.iter().any(|x| x == pl)
    });
    if fits {
        return None;
    }
    let distinct = |f: &dyn Fn(&Tag) -> Option<String>| {
        let mut v: Vec<String> = Vec::new();
        for t in &parsed {
            if let Some(x) = f(t) {
                if !v.contains(&x) {
                    v.push(x);
                }
            }
        }
        v
    };
    let py_ok: Vec<&(&str, &str, &str)> = parsed
        .iter()
        .filter(|(p, _, _)| pythons.iter().any(|x| x == p))
        .collect();
    if py_ok.is_empty() {
        let mine = distinct(&|t| Some(t.0.to_string()));
        return Some(format!(
            "python tag {} (this interpreter takes {})",
            list(pythons),
            list(&mine[..mine.len().min(6)])
        ));
    }
    let abi_ok: Vec<_> = py_ok
        .iter()
        .filter(|(_, a, _)| abis.iter().any(|x| x == a))
        .collect();
    if abi_ok.is_empty() {
        let mine = distinct(&|t| pythons.iter().any(|x| x == t.0).then(|| t.1.to_string()));
        return Some(format!(
            "ABI {} (this interpreter takes {})",
            list(abis),
            list(&mine)
        ));
    }
    // The platform: name the libc level when that is what differs.
    for family in ["manylinux", "musllinux"] {
        let max_mine = parsed
            .iter()
            .filter_map(|t| libc_level(t.2, family))
            .max_by_key(|(a, b, _)| (*a, *b));
        let wanted = platforms
            .iter()
            .filter_map(|p| {
                if family == "manylinux" {
                    libc_level(&legacy_manylinux(p).unwrap_or_else(|| p.clone()), family)
                } else {
                    libc_level(p, family)
                }
            })
            .min_by_key(|(a, b, _)| (*a, *b));
        if let (Some((ma, mi, arch)), Some((wa, wi, warch))) = (&max_mine, &wanted) {
            if arch == warch && (wa, wi) > (ma, mi) {
                let libc = if family == "manylinux" {
                    "glibc"
                } else {
                    "musl"
                };
                return Some(format!(
                    "platform {} needs {libc} {wa}.{wi}, this machine has {libc} {ma}.{mi}",
                    list(platforms)
                ));
            }
        }
    }
    let mine = distinct(&|t| Some(t.2.to_string()));
    Some(format!(
        "platform {} (this machine takes {})",
        list(platforms),
        list(&mine[..mine.len().min(4)])
    ))
}

/// Why pip would not take this file for this interpreter (yanked aside); `None` when it fits.
pub fn file_misfit(d: &Dist, interp: &Interpreter) -> Option<String> {
    if let (Some(rp), Some(py)) = (
        &d.file.requires_python,
        Version::parse(&interp.python_version),
    ) {
        // pip ignores a requires-python it cannot parse.
        if let Ok(set) = SpecifierSet::parse(rp) {
            if !set.contains(&py) {
                return Some(format!(
                    "requires-python {rp} (this interpreter is {})",
                    interp.python_version
                ));
            }
        }
    }
    match &d.kind {
        Kind::Sdist => None,
        Kind::Wheel {
            pythons,
            abis,
            platforms,
        } => wheel_misfit(pythons, abis, platforms, &interp.tags),
    }
}

/// What the page says about a requirement.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// pip takes `file` (version `version`); `yanked` when only a yanked file of a pinned version fits.
    Fits {
        version: Version,
        file: String,
        yanked: bool,
    },
    /// The page lists no file at all that pip could read.
    NoFiles,
    /// No version on the page matches the specifiers; the versions there, and the newest one with a fitting file.
    VersionNotFound {
        available: Vec<Version>,
        newest_fit: Option<Version>,
    },
    /// Versions match, but none of their files fits this interpreter: each file's reason.
    NoCompatibleFile {
        reasons: Vec<(String, String)>,
        newest_fit: Option<Version>,
    },
    /// Only yanked files fit (pip skips them unless the version is pinned with ==).
    AllYanked { versions: Vec<Version> },
}

/// pip's choice for `req` among `files` for this interpreter.
pub fn evaluate(req: &Requirement, files: &[FileEntry], interp: &Interpreter) -> Finding {
    let project = req.project();
    let dists: Vec<Dist> = files.iter().filter_map(|f| dist_of(f, &project)).collect();
    if dists.is_empty() {
        return Finding::NoFiles;
    }
    let spec = &req.specifiers;
    let fits = |d: &Dist| file_misfit(d, interp).is_none();
    let newest_fit = dists
        .iter()
        .filter(|d| fits(d) && !d.file.yanked && !d.version.is_prerelease())
        .map(|d| d.version.clone())
        .max();
    let matching: Vec<&Dist> = dists.iter().filter(|d| spec.contains(&d.version)).collect();
    let pre_ok = spec.names_prerelease() || matching.iter().all(|d| d.version.is_prerelease());
    let candidates: Vec<&Dist> = matching
        .into_iter()
        .filter(|d| pre_ok || !d.version.is_prerelease())
        .collect();
    if candidates.is_empty() {
        let mut available: Vec<Version> = dists.iter().map(|d| d.version.clone()).collect();
        available.sort();
        available.dedup();
        return Finding::VersionNotFound {
            available,
            newest_fit,
        };
    }
    let best = |yanked_ok: bool| {
        candidates
            .iter()
            .filter(|d| fits(d) && (yanked_ok || !d.file.yanked))
            .max_by(|a, b| {
                a.version.cmp(&b.version).then(
                    matches!(a.kind, Kind::Wheel { .. }).cmp(&matches!(b.kind, Kind::Wheel { .. })),
                )
            })
            .map(|d| (d.version.clone(), d.file.filename.clone(), d.file.yanked))
    };
    if let Some((version, file, yanked)) = best(false) {
        return Finding::Fits {
            version,
            file,
            yanked,
        };
    }
    if spec.is_pinned() {
        if let Some((version, file, yanked)) = best(true) {
            return Finding::Fits {
                version,
                file,
                yanked,
            };
        }
    }
    let yanked_fit: Vec<Version> = candidates
        .iter()
        .filter(|d| fits(d) && d.file.yanked)
        .map(|d| d.version.clone())
        .collect();
    if !yanked_fit.is_empty() {
        let mut versions = yanked_fit;
        versions.sort();
        versions.dedup();
        return Finding::AllYanked { versions };
    }
    let reasons = candidates
        .iter()
        .filter_map(|d| file_misfit(d, interp).map(|r| (d.file.filename.clone(), r)))
        .collect();
    Finding::NoCompatibleFile {
        reasons,
        newest_fit,
    }
}

/// Up to `n` versions nearest to the ones the specifiers name.
pub fn nearest(available: &[Version], spec: &SpecifierSet, n: usize) -> Vec<Version> {
    let Some(target) = spec.0.iter().find_map(|s| s.version.clone()) else {
        return available.iter().rev().take(n).cloned().collect();
    };
    let pos = available.partition_point(|v| *v < target);
    let lo = pos.saturating_sub(n / 2 + n % 2);
    let hi = (lo + n).min(available.len());
    available[hi.saturating_sub(n).min(lo)..hi].to_vec()
}

// --- the API's side ------------------------------------------------------------------------------------------

struct Names<'a> {
    settings: &'a Settings,
    region: String,
    project: String,
}

impl Names<'_> {
    fn base(&self) -> String {
        let s = self.settings;
        let owner = s
            .domain_owner
            .as_ref()
            .map_or("ACCOUNT_ID", |o| o.value.as_str());
        format!("--domain {} --domain-owner {owner}", s.domain.value)
    }
    fn pkg(&self) -> String {
        format!(
            "{} --repository {} --format pypi --package {}",
            self.base(),
            self.settings.repository.value,
            self.project
        )
    }
    fn region(&self) -> String {
        format!("--region {}", self.region)
    }
}

/// What the API said (each `Err` is the call's failure, shown in the detail).
#[derive(Debug, Default)]
struct Api {
    origin: Option<std::result::Result<Option<(String, String)>, String>>,
    versions: Option<std::result::Result<Vec<(String, String)>, String>>,
    /// This repository's upstreams and external connections, and each upstream's external connections.
    sources: Option<std::result::Result<Sources, String>>,
}

#[derive(Debug, Default)]
struct Sources {
    external: Vec<String>,
    upstreams: Vec<(String, std::result::Result<Vec<String>, String>)>,
}

impl Sources {
    fn reaches_pypi(&self) -> bool {
        self.external.iter().any(|e| e == "public:pypi")
            || self.upstreams.iter().any(|(_, e)| {
                e.as_ref()
                    .is_ok_and(|e| e.iter().any(|x| x == "public:pypi"))
            })
    }
}

fn call_failure(op: &str, e: &Error) -> String {
    let text = e.to_string();
    let first = text.split("\nhint: ").next().unwrap_or(&text);
    format!("{op} failed ({}: {first})", e.cause())
}

struct Client<'a> {
    client: aws_sdk_codeartifact::Client,
    ctx: &'a Ctx,
    settings: &'a Settings,
    region: String,
    host: String,
    budget: Budget,
}

impl Client<'_> {
    fn cc(&self, operation: &'static str) -> CallContext<'_> {
        CallContext {
            settings: self.settings,
            region: &self.region,
            host: &self.host,
            operation,
        }
    }
    async fn origin(&self, package: &str) -> std::result::Result<Option<(String, String)>, String> {
        let cc = self.cc("DescribePackage");
        match self
            .budget
            .run(aws::describe_package_origin(
                &self.client,
                &self.ctx.timeouts,
                &cc,
                package,
            ))
            .await
        {
            None => Err("DescribePackage: no answer in time".into()),
            Some(Ok(o)) => Ok(o),
            // A package the repository has never fetched has no record: no restrictions of its own.
            Some(Err(Error::NotFound { .. })) => Ok(None),
            Some(Err(e)) => Err(call_failure("DescribePackage", &e)),
        }
    }
    async fn versions(&self, package: &str) -> std::result::Result<Vec<(String, String)>, String> {
        let cc = self.cc("ListPackageVersions");
        match self
            .budget
            .run(aws::list_package_versions(
                &self.client,
                &self.ctx.timeouts,
                &cc,
                package,
            ))
            .await
        {
            None => Err("ListPackageVersions: no answer in time".into()),
            Some(Ok(v)) => Ok(v),
            Some(Err(Error::NotFound { .. })) => Ok(Vec::new()),
            Some(Err(e)) => Err(call_failure("ListPackageVersions", &e)),
        }
    }
    async fn repo(
        &self,
        repository: &str,
    ) -> std::result::Result<(Vec<String>, Vec<String>), String> {
        let cc = self.cc("DescribeRepository");
        match self
            .budget
            .run(aws::describe_repository_sources(
                &self.client,
                &self.ctx.timeouts,
                &cc,
                repository,
            ))
            .await
        {
            None => Err("DescribeRepository: no answer in time".into()),
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(call_failure("DescribeRepository", &e)),
        }
    }
    async fn sources(&self) -> std::result::Result<Sources, String> {
        let (ups, external) = self.repo(&self.settings.repository.value).await?;
        let mut upstreams = Vec::new();
        for u in ups.into_iter().take(10) {
            let e = self.repo(&u).await.map(|(_, e)| e);
            upstreams.push((u, e));
        }
        Ok(Sources {
            external,
            upstreams,
        })
    }
}

fn api_notes(api: &Api) -> String {
    let mut notes = Vec::new();
    if let Some(Err(e)) = &api.origin {
        notes.push(e.clone());
    }
    if let Some(Err(e)) = &api.versions {
        notes.push(e.clone());
    }
    match &api.sources {
        Some(Err(e)) => notes.push(e.clone()),
        Some(Ok(s)) => {
            for (u, e) in &s.upstreams {
                if let Err(e) = e {
                    notes.push(format!("upstream {u}: {e}"));
                }
            }
        }
        None => {}
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!("; {}", notes.join("; "))
    }
}

fn blocked(api: &Api) -> Option<(String, String)> {
    match &api.origin {
        Some(Ok(Some((publish, upstream)))) if upstream == "BLOCK" => {
            Some((publish.clone(), upstream.clone()))
        }
        _ => None,
    }
}

fn origin_blocked(n: &Names, publish: &str, detail: String) -> Check {
    Check::fail(
        NAME,
        Layer::Package,
        detail,
        "package-origin-blocked",
        format!(
            "The package {}'s origin controls block upstream versions (upstream=BLOCK): the repository does not fetch it from its upstreams or PyPI.",
            n.project
        ),
        format!(
            "allow upstream versions: aws codeartifact put-package-origin-configuration {} --restrictions publish={publish},upstream=ALLOW {}",
            n.pkg(),
            n.region()
        ),
    )
}

fn not_found(n: &Names, api: &Api, detail: String) -> Check {
    let s = n.settings;
    let repo = &s.repository.value;
    let assoc = |r: &str| {
        format!(
            "aws codeartifact associate-external-connection {} --repository {r} --external-connection public:pypi {}",
            n.base(),
            n.region()
        )
    };
    let create = format!(
        "aws codeartifact create-repository {} --repository pypi-store {}; {}; aws codeartifact update-repository {} --repository {repo} --upstreams repositoryName=pypi-store {}",
        n.base(),
        n.region(),
        assoc("pypi-store"),
        n.base(),
        n.region()
    );
    let (summary, remedy) = match &api.sources {
        Some(Ok(src)) if src.reaches_pypi() => (
            format!("Neither {repo} nor PyPI (through its upstreams) has a package named {}.", n.project),
            format!(
                "check the name (pip index versions {p}; https://pypi.org/project/{p}/): pip normalizes it to {p}",
                p = n.project
            ),
        ),
        Some(Ok(src)) if !src.upstreams.is_empty() => {
            let u = &src.upstreams[0].0;
            (
                format!(
                    "{repo} does not have {} and its upstream {u} has no external connection to PyPI.",
                    n.project
                ),
                format!("connect the upstream to PyPI: {}", assoc(u)),
            )
        }
        Some(Ok(_)) => (
            format!("{repo} does not have {} and has no upstream that reaches PyPI.", n.project),
            format!("give it an upstream connected to PyPI: {create}"),
        ),
        _ => (
            format!("{repo} does not have {} (the API could not say whether it reaches PyPI).", n.project),
            format!(
                "ask someone with access to run aws codeartifact describe-repository {} --repository {repo} {}; if no upstream reaches public:pypi, connect one: {}; if none exists: {create}; else check the name",
                n.base(),
                n.region(),
                assoc("UPSTREAM_REPOSITORY")
            ),
        ),
    };
    Check::fail(
        NAME,
        Layer::Package,
        detail,
        "package-not-found",
        summary,
        remedy,
    )
}

fn unavailable(n: &Names, version: &str, status: &str, detail: String) -> Check {
    let remedy = if status == "Disposed" {
        format!(
            "the files of {} {version} were deleted (Disposed): publish them again (twine upload --repository codeartifact dist/*), or install another version",
            n.project
        )
    } else {
        format!(
            "make it installable again: aws codeartifact update-package-versions-status {} --versions {version} --target-status Published {}",
            n.pkg(),
            n.region()
        )
    };
    Check::fail(
        NAME,
        Layer::Package,
        detail,
        "package-version-unavailable",
        format!(
            "{} {version} is in the repository with status {status}: pip sees only Published versions.",
            n.project
        ),
        remedy,
    )
}

fn show(vs: &[Version]) -> String {
    vs.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn marker_note(req: &Requirement) -> String {
    match &req.marker {
        Some(m) => format!(" (marker {m:?} not evaluated)"),
        None => String::new(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn check_one(
    req: &Requirement,
    text: &str,
    settings: &Settings,
    ctx: &Ctx,
    endpoint: &str,
    token: &Secret,
    interp: &Interpreter,
    budget: &Budget,
) -> Check {
    let project = req.project();
    let n = Names {
        settings,
        region: ctx.region.clone().unwrap_or_else(|| "REGION".into()),
        project: project.clone(),
    };
    let url = format!("{}{project}/", simple_url(endpoint));
    let shown = crate::secret::mask_url(&url);
    let head = format!("{text}{}: GET {shown}", marker_note(req));
    let limit = budget.bound();
    let (answer, _) = match fetch(&url, token, ctx.ca_bundle.as_deref(), limit).await {
        Ok(a) => a,
        Err(e) => {
            let why = match e {
                ReadError::NoAnswer => format!("no answer within {:.1} s", limit.as_secs_f32()),
                ReadError::Connect(e) => e.to_string(),
                ReadError::Tls(e) => format!("TLS failed ({e})"),
                ReadError::Garbled(e) => e,
                ReadError::BodyStalled(status) => {
                    format!("answered {status}, then the rest did not come in time")
                }
                ReadError::TooLarge => "the answer is larger than the cap".to_string(),
            };
            return Check::fail(
                NAME,
                Layer::Package,
                format!("{head}: {why}"),
                "package-page-unreadable",
                format!("The project page of {project} could not be read."),
                "the repository read passed, so the page's own answer failed: try again; if it keeps failing, a proxy may cut long answers (HTTPS_PROXY / NO_PROXY)",
            );
        }
    };
    let json = answer.content_type.starts_with(JSON_SIMPLE)
        || answer
            .content_type
            .starts_with("application/vnd.pypi.simple.latest+json");
    let parsed = match answer.status {
        200 if json => parse_json_page(&answer.body).map(|f| (f, "JSON")),
        200 => Ok((parse_html_page(&answer.body), "HTML")),
        404 => {
            let mut api = Api::default();
            if let Some(c) = api_client(settings, ctx, budget).await {
                api.origin = Some(c.origin(&project).await);
                if blocked(&api).is_none() {
                    api.sources = Some(c.sources().await);
                }
            } else {
                api.sources = Some(Err("no credentials for the API calls".into()));
            }
            let detail = format!("{head}: HTTP 404{}", api_notes(&api));
            if let Some((publish, _)) = blocked(&api) {
                return origin_blocked(&n, &publish, detail);
            }
            return not_found(&n, &api, detail);
        }
        s => {
            return Check::fail(
                NAME,
                Layer::Package,
                format!("{head}: HTTP {s}"),
                "package-page-unreadable",
                format!("The project page of {project} answered HTTP {s}."),
                "if it is a 5xx, CodeArtifact had an error: try again in a minute",
            )
        }
    };
    let (files, form) = match parsed {
        Ok(x) => x,
        Err(e) => {
            return Check::fail(
                NAME,
                Layer::Package,
                format!("{head}: {e}"),
                "package-page-unreadable",
                format!("The project page of {project} is not a valid PEP 691 page."),
                "a proxy may rewrite the answer; check HTTPS_PROXY / NO_PROXY",
            )
        }
    };
    let head = format!(
        "{head}: {form} page, {} file{}",
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    );
    let py = &interp.python_version;
    let spec = if req.specifiers.is_empty() {
        String::new()
    } else {
        req.specifiers.to_string()
    };
    let pin = |v: &Version| format!("pip install '{}=={v}'", req.name);
    match evaluate(req, &files, interp) {
        Finding::Fits {
            version,
            file,
            yanked: false,
        } => Check::ok(
            NAME,
            Layer::Package,
            format!("{head}; pip takes {file} ({version})"),
        ),
        Finding::Fits { version, file, .. } => Check::warn(
            NAME,
            Layer::Package,
            format!(
                "{head}; pip takes {file} ({version}) only because it is pinned: the file is yanked, pip warns"
            ),
        ),
        Finding::AllYanked { versions } => {
            let newest = versions.last().cloned().unwrap_or_else(|| Version::parse("0").expect("0 parses"));
            Check::fail(
                NAME,
                Layer::Package,
                format!("{head}; only yanked files fit: {}", show(&versions)),
                "package-all-yanked",
                format!(
                    "Every file of {project}{spec} that fits this interpreter is yanked: pip skips yanked files unless the version is pinned."
                ),
                format!(
                    "pin the version to take the yanked file anyway: {} (pip warns), or ask the publisher for a release that is not yanked",
                    pin(&newest)
                ),
            )
        }
        Finding::NoCompatibleFile {
            reasons,
            newest_fit,
        } => {
            let each: Vec<String> = reasons
                .iter()
                .take(8)
                .map(|(f, r)| format!("{f}: {r}"))
                .collect();
            let more = if reasons.len() > 8 {
                format!("; and {} more", reasons.len() - 8)
            } else {
                String::new()
            };
            let remedy = match &newest_fit {
                Some(v) => format!(
                    "install the newest version with a file for this interpreter: {}",
                    pin(v)
                ),
                None => format!(
                    "no version of {project} has a file for Python {py} on this platform: use an interpreter and platform its files are for"
                ),
            };
            Check::fail(
                NAME,
                Layer::Package,
                format!("{head}; {}{more}", each.join("; ")),
                "package-no-compatible-file",
                format!(
                    "No file of {project}{spec} fits this interpreter (Python {py}): {}.",
                    reasons.first().map_or("", |r| r.1.as_str())
                ),
                remedy,
            )
        }
        finding @ (Finding::NoFiles | Finding::VersionNotFound { .. }) => {
            let (available, newest_fit) = match finding {
                Finding::VersionNotFound {
                    available,
                    newest_fit,
                } => (available, newest_fit),
                _ => (Vec::new(), None),
            };
            let mut api = Api::default();
            if let Some(c) = api_client(settings, ctx, budget).await {
                api.versions = Some(c.versions(&project).await);
                api.origin = Some(c.origin(&project).await);
            } else {
                api.versions = Some(Err("no credentials for the API calls".into()));
            }
            let notes = api_notes(&api);
            let shown_versions = if available.is_empty() {
                "no installable file".to_string()
            } else {
                format!(
                    "versions nearest to {}: {}",
                    if spec.is_empty() { "it" } else { spec.as_str() },
                    show(&nearest(&available, &req.specifiers, 5))
                )
            };
            let detail = format!("{head}; {shown_versions}{notes}");
            if let Some(Ok(vs)) = &api.versions {
                let hidden = vs
                    .iter()
                    .filter(|(_, st)| st != "Published")
                    .filter_map(|(v, st)| Version::parse(v).map(|p| (p, v, st)))
                    .filter(|(p, _, _)| req.specifiers.contains(p))
                    .max_by(|a, b| a.0.cmp(&b.0));
                if let Some((_, v, st)) = hidden {
                    return unavailable(&n, v, st, detail);
                }
            }
            if let Some((publish, _)) = blocked(&api) {
                return origin_blocked(&n, &publish, detail);
            }
            let remedy = match &newest_fit {
                Some(v) => format!("install a version that exists: {}", pin(v)),
                None => format!(
                    "no version of {project} on the page fits Python {py}: use an interpreter its files are for"
                ),
            };
            Check::fail(
                NAME,
                Layer::Package,
                detail,
                "package-version-not-found",
                format!(
                    "The repository has {project}, but no version that matches {}.",
                    if spec.is_empty() { "any release" } else { spec.as_str() }
                ),
                remedy,
            )
        }
    }
}

/// The package layer: one check per requirement, once the repository read passed (else each is a skip).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    settings: &Settings,
    ctx: &Ctx,
    outcome: &Outcome,
    reqs: &[Requirement],
    texts: &[String],
    interp: &Interpreter,
    read_passed: bool,
    budget: &Budget,
    rec: &Recorder,
) {
    for (req, text) in reqs.iter().zip(texts) {
        let t0 = Instant::now();
        let (Some(endpoint), Some(token), true) =
            (&outcome.repository_endpoint, &outcome.token, read_passed)
        else {
            rec.push(Check::skip(
                NAME,
                Layer::Package,
                format!("{text}: the repository read did not pass (see above)"),
            ));
            continue;
        };
        if budget.exhausted() {
            rec.push(Check::skip(
                NAME,
                Layer::Package,
                format!("{text}: not reached before the diagnosis's time limit"),
            ));
            continue;
        }
        let c = check_one(req, text, settings, ctx, endpoint, token, interp, budget).await;
        rec.push(c.took(t0));
    }
}

async fn api_client<'a>(
    settings: &'a Settings,
    ctx: &'a Ctx,
    budget: &Budget,
) -> Option<Client<'a>> {
    let a = ctx.aws.as_ref()?;
    let creds = budget
        .run(aws::credentials(a, budget.bound()))
        .await?
        .ok()?;
    Some(Client {
        client: aws::codeartifact(a, settings, creds),
        ctx,
        settings,
        region: ctx.region.clone().unwrap_or_else(|| a.region.clone()),
        host: a.api_host.clone(),
        budget: *budget,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interp() -> Interpreter {
        let mut tags = Vec::new();
        for plat in [
            "manylinux_2_36_x86_64",
            "manylinux_2_17_x86_64",
            "manylinux2014_x86_64",
            "linux_x86_64",
        ] {
            tags.push(format!("cp311-cp311-{plat}"));
            tags.push(format!("cp311-abi3-{plat}"));
            tags.push(format!("py3-none-{plat}"));
        }
        tags.push("py311-none-any".into());
        tags.push("py3-none-any".into());
        Interpreter {
            python_version: "3.11.7".into(),
            tags,
        }
    }
    fn f(name: &str) -> FileEntry {
        FileEntry {
            filename: name.into(),
            requires_python: None,
            yanked: false,
        }
    }
    fn req(s: &str) -> Requirement {
        Requirement::parse(s).expect("requirement")
    }
    fn v(s: &str) -> Version {
        Version::parse(s).expect("version")
    }

    #[test]
    fn wheel_misfit_names_the_part_that_fails() {
        let t = interp().tags;
        let s = |x: &str| vec![x.to_string()];
        assert_eq!(wheel_misfit(&s("py3"), &s("none"), &s("any"), &t), None);
        let r = wheel_misfit(&s("cp313"), &s("cp313"), &s("manylinux_2_17_x86_64"), &t)
            .expect("misfit");
        assert!(
            r.starts_with("python tag cp313") && r.contains("cp311"),
            "{r}"
        );
        let r = wheel_misfit(&s("cp311"), &s("cp311d"), &s("linux_x86_64"), &t).expect("misfit");
        assert!(r.starts_with("ABI cp311d"), "{r}");
        let r =
            wheel_misfit(&s("py3"), &s("none"), &s("manylinux_2_40_x86_64"), &t).expect("misfit");
        assert!(
            r.contains("needs glibc 2.40, this machine has glibc 2.36"),
            "{r}"
        );
        let r = wheel_misfit(&s("py3"), &s("none"), &s("macosx_11_0_arm64"), &t).expect("misfit");
        assert!(r.starts_with("platform macosx_11_0_arm64"), "{r}");
    }

    #[test]
    fn a_fitting_wheel_wins_over_the_sdist_of_the_same_version() {
        let files = [
            f("demo-1.0.tar.gz"),
            f("demo-1.0-py3-none-any.whl"),
            f("demo-0.9.tar.gz"),
        ];
        assert_eq!(
            evaluate(&req("demo"), &files, &interp()),
            Finding::Fits {
                version: v("1.0"),
                file: "demo-1.0-py3-none-any.whl".into(),
                yanked: false
            }
        );
    }

    #[test]
    fn requires_python_excludes_a_file_and_names_the_newest_that_fits() {
        let mut new = f("demo-2.0-py3-none-any.whl");
        new.requires_python = Some(">=3.14".into());
        let files = [new, f("demo-1.0-py3-none-any.whl")];
        match evaluate(&req("demo>=2"), &files, &interp()) {
            Finding::NoCompatibleFile {
                reasons,
                newest_fit,
            } => {
                assert_eq!(reasons.len(), 1);
                assert!(reasons[0]
                    .1
                    .contains("requires-python >=3.14 (this interpreter is 3.11.7)"));
                assert_eq!(newest_fit, Some(v("1.0")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn yanked_files_count_only_when_pinned() {
        let mut y = f("demo-1.0-py3-none-any.whl");
        y.yanked = true;
        let files = [y];
        assert_eq!(
            evaluate(&req("demo"), &files, &interp()),
            Finding::AllYanked {
                versions: vec![v("1.0")]
            }
        );
        assert!(matches!(
            evaluate(&req("demo==1.0"), &files, &interp()),
            Finding::Fits { yanked: true, .. }
        ));
    }

    #[test]
    fn prereleases_only_when_named_or_nothing_else_matches() {
        let files = [
            f("demo-1.0-py3-none-any.whl"),
            f("demo-2.0b1-py3-none-any.whl"),
        ];
        let pick = |r: &str| match evaluate(&req(r), &files, &interp()) {
            Finding::Fits { version, .. } => version.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(pick("demo"), "1.0");
        assert_eq!(pick("demo>=2.0b1"), "2.0b1");
        assert_eq!(pick("demo>1.0"), "2.0b1");
    }

    #[test]
    fn a_missing_version_lists_what_is_there() {
        let files = [
            f("demo-1.0-py3-none-any.whl"),
            f("demo-1.2-py3-none-any.whl"),
        ];
        match evaluate(&req("demo==9.9"), &files, &interp()) {
            Finding::VersionNotFound {
                available,
                newest_fit,
            } => {
                assert_eq!(available, [v("1.0"), v("1.2")]);
                assert_eq!(newest_fit, Some(v("1.2")));
            }
            other => panic!("{other:?}"),
        }
        let all: Vec<Version> = (1..=9).map(|i| v(&format!("1.{i}"))).collect();
        let near = nearest(&all, &SpecifierSet::parse("==1.5.1").expect("spec"), 4);
        assert_eq!(show(&near), "1.4, 1.5, 1.6, 1.7");
    }

    #[test]
    fn html_pages_give_names_requires_python_and_yanked() {
        let page = br#"<html><body>
<a href="../../files/demo-1.0-py3-none-any.whl#sha256=ab" data-requires-python="&gt;=3.8">demo-1.0-py3-none-any.whl</a><br/>
<a data-yanked href="demo-0.9.tar.gz">demo-0.9.tar.gz</a>
<a href="demo%2B-0.8.zip" data-yanked="broken build">x</a>
<abbr>not a link</abbr></body></html>"#;
        let files = parse_html_page(page);
        assert_eq!(files.len(), 3);
        assert_eq!(files[0].filename, "demo-1.0-py3-none-any.whl");
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.8"));
        assert!(!files[0].yanked);
        assert!(files[1].yanked && files[2].yanked);
        assert_eq!(files[2].filename, "demo+-0.8.zip");
    }

    #[test]
    fn json_pages_read_yanked_as_bool_or_reason() {
        let page = br#"{"meta":{"api-version":"1.0"},"name":"demo","files":[
            {"filename":"demo-1.0.tar.gz","url":"x","hashes":{},"requires-python":">=3.9","yanked":"bad"},
            {"filename":"demo-1.1.tar.gz","url":"y","hashes":{},"yanked":false}]}"#;
        let files = parse_json_page(page).expect("page");
        assert!(files[0].yanked && !files[1].yanked);
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.9"));
        assert!(parse_json_page(b"{}").is_err());
    }

    #[test]
    fn chunked_and_sized_answers_decode() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/html\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\n\r\n";
        assert!(complete(raw));
        let a = parse_answer(raw).expect("answer");
        assert_eq!(
            (a.status, a.body.as_slice()),
            (200, b"hello world".as_slice())
        );
        let cut = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert!(!complete(cut) && parse_answer(cut).is_err());
        let redirect =
            b"HTTP/1.1 301 Moved\r\nLocation: /simple/demo/\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            parse_answer(redirect).expect("answer").location.as_deref(),
            Some("/simple/demo/")
        );
    }

    #[test]
    fn bad_requirements_and_missing_interpreter_are_invalid_input() {
        let i = interp();
        assert!(prepare(&["pkg @ https://example.invalid/p.whl".into()], Some(&i)).is_err());
        assert!(prepare(&["pkg>=".into()], Some(&i)).is_err());
        assert!(prepare(&["pkg".into()], None).is_err());
        assert_eq!(prepare(&["pkg==1".into()], Some(&i)).expect("ok").len(), 1);
        assert!(prepare(&[], None).expect("no packages").is_empty());
    }
}
