//! PEP 440 versions and specifiers, and the PEP 508 subset `diagnose(package=...)` takes: `name[extras] specifiers
//! [; markers]`. Markers are kept as text, not evaluated. `name @ URL` is refused (nothing to look up in an index).

use std::cmp::Ordering;

/// A parsed PEP 440 version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub epoch: u64,
    pub release: Vec<u64>,
    /// (0 = a, 1 = b, 2 = rc, number)
    pub pre: Option<(u8, u64)>,
    pub post: Option<u64>,
    pub dev: Option<u64>,
    pub local: Option<String>,
}

fn take_num(s: &str) -> (Option<u64>, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        (None, s)
    } else {
        (s[..end].parse().ok(), &s[end..])
    }
}

fn skip_sep(s: &str) -> &str {
    s.strip_prefix(['.', '-', '_']).unwrap_or(s)
}

impl Version {
    /// Parse (and normalize) a version; `None` when it is not PEP 440.
    pub fn parse(text: &str) -> Option<Version> {
        let lower = text.trim().to_ascii_lowercase();
        let mut s = lower.strip_prefix('v').unwrap_or(&lower);
        let (local, public) = match s.split_once('+') {
            Some((p, l)) => {
                if l.is_empty()
                    || !l
                        .split(['.', '-', '_'])
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
                {
                    return None;
                }
                (Some(l.replace(['-', '_'], ".")), p)
            }
            None => (None, s),
        };
        s = public;
        let mut epoch = 0;
        if let Some((e, rest)) = s.split_once('!') {
            epoch = e.parse().ok()?;
            s = rest;
        }
        let mut release = Vec::new();
        loop {
            let (n, rest) = take_num(s);
            release.push(n?);
            s = rest;
            match s.strip_prefix('.') {
                Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => s = r,
                _ => break,
            }
        }
        let mut pre = None;
        let t = skip_sep(s);
        for (word, kind) in [
            ("alpha", 0),
            ("beta", 1),
            ("preview", 2),
            ("pre", 2),
            ("rc", 2),
            ("a", 0),
            ("b", 1),
            ("c", 2),
        ] {
            if let Some(r) = t.strip_prefix(word) {
                let (n, r) = take_num(skip_sep(r));
                pre = Some((kind, n.unwrap_or(0)));
                s = r;
                break;
            }
        }
        let mut post = None;
        let t = skip_sep(s);
        if let Some(r) = ["post", "rev", "r"].iter().find_map(|w| t.strip_prefix(w)) {
            let (n, r) = take_num(skip_sep(r));
            post = Some(n.unwrap_or(0));
            s = r;
        } else if let Some(r) = s.strip_prefix('-') {
            let (n, r) = take_num(r);
            if let Some(n) = n {
                post = Some(n);
                s = r;
            }
        }
        let mut dev = None;
        let t = skip_sep(s);
        if let Some(r) = t.strip_prefix("dev") {
            let (n, r) = take_num(skip_sep(r));
            dev = Some(n.unwrap_or(0));
            s = r;
        }
        if !s.is_empty() {
            return None;
        }
        Some(Version {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    /// A pre-release or a development release.
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    fn release_at(&self, i: usize) -> u64 {
        self.release.get(i).copied().unwrap_or(0)
    }

    fn public(&self) -> Version {
        Version {
            local: None,
            ..self.clone()
        }
    }

    fn key(&self) -> (u64, (i128, i128, i128), i128, i128) {
        let pre = match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => (-1, 0, 0),
            (Some((k, n)), _, _) => (0, k as i128, n as i128),
            (None, _, _) => (1, 0, 0),
        };
        let post = self.post.map_or(-1, |n| n as i128);
        let dev = self.dev.map_or(i128::MAX, |n| n as i128);
        (self.epoch, pre, post, dev)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}!", self.epoch)?;
        }
        let rel: Vec<String> = self.release.iter().map(|n| n.to_string()).collect();
        f.write_str(&rel.join("."))?;
        if let Some((k, n)) = self.pre {
            write!(f, "{}{n}", ["a", "b", "rc"][k as usize])?;
        }
        if let Some(n) = self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = self.dev {
            write!(f, ".dev{n}")?;
        }
        if let Some(l) = &self.local {
            write!(f, "+{l}")?;
        }
        Ok(())
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let (ea, pa, qa, da) = self.key();
        let (eb, pb, qb, db) = other.key();
        let n = self.release.len().max(other.release.len());
        ea.cmp(&eb)
            .then_with(|| {
                (0..n)
                    .map(|i| self.release_at(i).cmp(&other.release_at(i)))
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            })
            .then(pa.cmp(&pb))
            .then(qa.cmp(&qb))
            .then(da.cmp(&db))
            .then_with(|| cmp_local(self.local.as_deref(), other.local.as_deref()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn cmp_local(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => {
            let seg = |s: &str| -> (bool, u64, String) {
                match s.parse::<u64>() {
                    Ok(n) => (true, n, String::new()),
                    Err(_) => (false, 0, s.to_string()),
                }
            };
            let a: Vec<_> = a.split('.').map(seg).collect();
            let b: Vec<_> = b.split('.').map(seg).collect();
            a.cmp(&b)
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Le,
    Ge,
    Lt,
    Gt,
    Compatible,
    Arbitrary,
}

/// One specifier such as `>=1.2` or `==1.4.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specifier {
    pub op: Op,
    pub text: String,
    pub version: Option<Version>,
    /// `==X.*` / `!=X.*`.
    pub wildcard: bool,
}

impl Specifier {
    pub fn parse(s: &str) -> Result<Specifier, String> {
        let s = s.trim();
        let ops = [
            ("===", Op::Arbitrary),
            ("~=", Op::Compatible),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        let (op, rest) = ops
            .iter()
            .find_map(|(p, op)| s.strip_prefix(p).map(|r| (*op, r.trim())))
            .ok_or_else(|| format!("{s:?} has no operator (==, !=, <=, >=, <, >, ~=, ===)"))?;
        if rest.is_empty() {
            return Err(format!("{s:?} has no version"));
        }
        if op == Op::Arbitrary {
            return Ok(Specifier {
                op,
                text: rest.to_string(),
                version: None,
                wildcard: false,
            });
        }
        let (vtext, wildcard) = match rest.strip_suffix(".*") {
            Some(v) if matches!(op, Op::Eq | Op::Ne) => (v, true),
            Some(_) => return Err(format!("{s:?}: .* only goes with == and !=")),
            None => (rest, false),
        };
        let version =
            Version::parse(vtext).ok_or_else(|| format!("{vtext:?} is not a PEP 440 version"))?;
        if op == Op::Compatible && version.release.len() < 2 {
            return Err(format!("{s:?}: ~= needs at least two release numbers"));
        }
        Ok(Specifier {
            op,
            text: rest.to_string(),
            version: Some(version),
            wildcard,
        })
    }

    /// Whether `v` satisfies this specifier (pre-release policy aside).
    pub fn contains(&self, v: &Version) -> bool {
        let Some(s) = &self.version else {
            return v.to_string() == self.text.to_ascii_lowercase();
        };
        match self.op {
            Op::Eq if self.wildcard => prefix_match(v, s),
            Op::Ne if self.wildcard => !prefix_match(v, s),
            Op::Eq => equal(v, s),
            Op::Ne => !equal(v, s),
            Op::Le => v.public() <= *s,
            Op::Ge => v.public() >= *s,
            Op::Lt => {
                v.public() < *s
                    && !(!s.is_prerelease()
                        && v.is_prerelease()
                        && same_release(v, s)
                        && v.epoch == s.epoch)
            }
            Op::Gt => {
                v.public() > *s && !(s.post.is_none() && v.post.is_some() && same_release(v, s))
            }
            Op::Compatible => {
                let mut prefix = s.public();
                prefix.release.pop();
                prefix.pre = None;
                prefix.post = None;
                prefix.dev = None;
                v.public() >= *s && prefix_match(v, &prefix)
            }
            Op::Arbitrary => false,
        }
    }
}

fn same_release(a: &Version, b: &Version) -> bool {
    let n = a.release.len().max(b.release.len());
    (0..n).all(|i| a.release_at(i) == b.release_at(i))
}

fn equal(v: &Version, s: &Version) -> bool {
    if s.local.is_some() {
        v.cmp(s) == Ordering::Equal
    } else {
        v.public().cmp(s) == Ordering::Equal
    }
}

fn prefix_match(v: &Version, s: &Version) -> bool {
    v.epoch == s.epoch
        && (0..s.release.len()).all(|i| v.release_at(i) == s.release[i])
        && (s.pre.is_none() || v.pre == s.pre)
}

/// A set of comma-separated specifiers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecifierSet(pub Vec<Specifier>);

impl SpecifierSet {
    pub fn parse(s: &str) -> Result<SpecifierSet, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(SpecifierSet::default());
        }
        s.split(',')
            .map(Specifier::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(SpecifierSet)
    }
    pub fn contains(&self, v: &Version) -> bool {
        self.0.iter().all(|s| s.contains(v))
    }
    /// Whether a specifier names a pre-release (pip then considers pre-releases).
    pub fn names_prerelease(&self) -> bool {
        self.0.iter().any(|s| {
            !matches!(s.op, Op::Ne) && s.version.as_ref().is_some_and(|v| v.is_prerelease())
        })
    }
    /// `==X` (or `===X`): one exact version (pip keeps a yanked file for it).
    pub fn is_pinned(&self) -> bool {
        self.0
            .iter()
            .any(|s| matches!(s.op, Op::Eq | Op::Arbitrary) && !s.wildcard)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for SpecifierSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| {
                let op = match s.op {
                    Op::Eq => "==",
                    Op::Ne => "!=",
                    Op::Le => "<=",
                    Op::Ge => ">=",
                    Op::Lt => "<",
                    Op::Gt => ">",
                    Op::Compatible => "~=",
                    Op::Arbitrary => "===",
                };
                format!("{op}{}", s.text)
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// A PEP 508 requirement (the subset an index lookup needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// As written.
    pub name: String,
    pub extras: Vec<String>,
    pub specifiers: SpecifierSet,
    /// The text after `;`, not evaluated.
    pub marker: Option<String>,
}

/// PEP 503 normalization: runs of `-`, `_`, `.` become `-`, lower case.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

impl Requirement {
    pub fn parse(text: &str) -> Result<Requirement, String> {
        let (body, marker) = match text.split_once(';') {
            Some((b, m)) => (
                b.trim(),
                Some(m.trim().to_string()).filter(|m| !m.is_empty()),
            ),
            None => (text.trim(), None),
        };
        if body.contains(" @") || body.contains("@ ") || body.contains("://") {
            return Err(format!(
                "{text:?} is a direct reference (name @ URL); pip does not look it up in an index"
            ));
        }
        let end = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(body.len());
        let name = &body[..end];
        if !valid_name(name) {
            return Err(format!("{text:?} does not start with a project name"));
        }
        let mut rest = body[end..].trim();
        let mut extras = Vec::new();
        if let Some(r) = rest.strip_prefix('[') {
            let (inner, after) = r
                .split_once(']')
                .ok_or_else(|| format!("{text:?}: '[' without ']'"))?;
            for e in inner.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                if !valid_name(e) {
                    return Err(format!("{text:?}: {e:?} is not an extra's name"));
                }
                extras.push(e.to_string());
            }
            rest = after.trim();
        }
        if let Some(inner) = rest.strip_prefix('(') {
            rest = inner
                .strip_suffix(')')
                .ok_or_else(|| format!("{text:?}: '(' without ')'"))?;
        }
        let specifiers = SpecifierSet::parse(rest).map_err(|e| format!("{text:?}: {e}"))?;
        Ok(Requirement {
            name: name.to_string(),
            extras,
            specifiers,
            marker,
        })
    }
    pub fn project(&self) -> String {
        normalize(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|| panic!("{s} parses"))
    }
    fn has(spec: &str, ver: &str) -> bool {
        SpecifierSet::parse(spec).expect("spec").contains(&v(ver))
    }

    #[test]
    fn versions_normalize_and_print_canonically() {
        assert_eq!(v("1.0.0").to_string(), "1.0.0");
        assert_eq!(v("v1.0-RC.1").to_string(), "1.0rc1");
        assert_eq!(v("1.0alpha2").to_string(), "1.0a2");
        assert_eq!(v("1!2.0.post3.dev4").to_string(), "1!2.0.post3.dev4");
        assert_eq!(v("1.0-1").to_string(), "1.0.post1");
        assert_eq!(v("1.0+ubuntu-1").to_string(), "1.0+ubuntu.1");
        for bad in ["", "abc", "1.0+", "1..0", "1.0 beta x"] {
            assert!(Version::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn ordering_follows_pep_440() {
        let order = [
            "1.0.dev0",
            "1.0a1",
            "1.0a2.dev1",
            "1.0a2",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0+local",
            "1.0.post1.dev0",
            "1.0.post1",
            "1.1",
            "1!0.1",
        ];
        for w in order.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(v("1.0").cmp(&v("1.0.0")), Ordering::Equal);
    }

    #[test]
    fn comparison_operators() {
        assert!(has(">=1.2,<2", "1.5"));
        assert!(!has(">=1.2,<2", "2.0"));
        assert!(has("<=1.2", "1.2"));
        assert!(has("!=1.3", "1.4") && !has("!=1.3", "1.3.0"));
        assert!(has("==1.0", "1.0.0") && has("==1.0", "1.0+local") && !has("==1.0", "1.0.post1"));
        assert!(has("===1.0", "1.0") && !has("===1.0", "1.0.0"));
    }

    #[test]
    fn exclusive_bounds_skip_pre_and_post_releases_of_the_bound() {
        assert!(!has(">1.7", "1.7.post1"));
        assert!(has(">1.7", "1.7.1"));
        assert!(has(">1.7.post1", "1.7.post2"));
        assert!(!has("<2.0", "2.0rc1"));
        assert!(has("<2.0rc2", "2.0rc1"));
    }

    #[test]
    fn wildcard_and_compatible_release() {
        assert!(has("==1.4.*", "1.4.9") && !has("==1.4.*", "1.5"));
        assert!(has("!=1.4.*", "1.5") && !has("!=1.4.*", "1.4.0"));
        assert!(has("~=2.2", "2.9") && !has("~=2.2", "3.0") && !has("~=2.2", "2.1"));
        assert!(has("~=1.4.5", "1.4.9") && !has("~=1.4.5", "1.5.0"));
        assert!(Specifier::parse(">=1.*").is_err());
        assert!(Specifier::parse("~=1").is_err());
    }

    #[test]
    fn prerelease_and_pin_detection() {
        let s = SpecifierSet::parse(">=2.0b1").expect("spec");
        assert!(s.names_prerelease() && !s.is_pinned());
        let s = SpecifierSet::parse("==1.2").expect("spec");
        assert!(s.is_pinned() && !s.names_prerelease());
        assert!(!SpecifierSet::parse("==1.*").expect("spec").is_pinned());
    }

    #[test]
    fn requirements_parse_and_refuse_urls() {
        let r =
            Requirement::parse("Foo.Bar[x, y] (>=1.0, <2) ; python_version >= '3.8'").expect("req");
        assert_eq!(r.name, "Foo.Bar");
        assert_eq!(r.project(), "foo-bar");
        assert_eq!(r.extras, ["x", "y"]);
        assert_eq!(r.specifiers.to_string(), ">=1.0,<2");
        assert_eq!(r.marker.as_deref(), Some("python_version >= '3.8'"));
        assert_eq!(
            Requirement::parse("pandas")
                .expect("req")
                .specifiers
                .0
                .len(),
            0
        );
        for bad in [
            "pkg @ https://x/p.whl",
            "-e .",
            "pkg>=",
            "pkg[x",
            "pkg>>1",
            "",
        ] {
            assert!(Requirement::parse(bad).is_err(), "{bad}");
        }
    }
}
