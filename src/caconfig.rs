//! Writing the ca-login config file (`~/.config/ca-login/config`, INI, section `[default]`), so that a notebook's
//! `ca_login.login()` needs no arguments. `ca-login configure` (and the SageMaker lifecycle script) call this.
//! The edit keeps every other line of the file as it was (pipconf's byte-preserving [`Document`]) and the write
//! is atomic, mode 0600, under the file's lock ([`pipconf::update_file`]).
//!
//! [`Document`]: crate::pipconf::Document

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files::{self, user::AsUser};
use crate::pipconf;
use crate::settings::{self, CONFIG_KEYS};

/// The section `ca-login configure` writes (the one [`settings::read_config_file`] reads without a profile).
pub const SECTION: &str = "default";

/// Checks one key and its value as `login()` would check them, before anything is written.
pub fn validate(key: &str, value: &str) -> Result<()> {
    let v = value.trim();
    match key {
        "domain" => settings::validate_domain(v),
        "domain_owner" => settings::validate_account(v),
        "repository" => settings::validate_repository(v),
        "region" => settings::validate_region(v),
        "duration_seconds" => match v.parse::<i64>() {
            Ok(d) => settings::validate_duration(d),
            Err(_) => Err(Error::invalid(
                "duration_seconds",
                format!("{v:?} is not a whole number of seconds"),
                "use 0 (the role session's expiry) or 900..43200",
            )),
        },
        "endpoint_url" => settings::validate_http_url("endpoint_url", v),
        "repository_endpoint_url" if v.contains("://") => {
            settings::validate_http_url("repository_endpoint_url", v)
        }
        "repository_endpoint_url" => {
            let ok = !v.is_empty()
                && v.len() <= 253
                && v.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                });
            if ok {
                Ok(())
            } else {
                Err(Error::invalid(
                    "repository_endpoint_url",
                    format!("{v:?} is neither a URL nor a host name"),
                    "give the full URL or the bare name, e.g. vpce-0123-abcd.d.codeartifact.us-west-2.vpce.amazonaws.com",
                ))
            }
        }
        "profile" => {
            if !v.is_empty() && !v.contains(['\n', '\r', '[', ']']) {
                Ok(())
            } else {
                Err(Error::invalid(
                    "profile",
                    format!("{v:?} is not an AWS profile name"),
                    "use the name from ~/.aws/config",
                ))
            }
        }
        _ => Err(Error::invalid(
            "key",
            format!("{key:?} is not a ca-login setting"),
            format!("use one of: {}", CONFIG_KEYS.join(", ")),
        )),
    }
}

/// Checks every key and value of a [`write`] without writing (`None`: the key is to be removed).
pub fn check(values: &[(String, Option<String>)]) -> Result<()> {
    for (k, v) in values {
        match v {
            Some(v) => validate(k, v)?,
            None if CONFIG_KEYS.contains(&k.as_str()) => {}
            None => validate(k, "")?,
        }
    }
    Ok(())
}

/// Sets (`Some`) or removes (`None`) each key in `[default]` of the ca-login config at `path`, keeping the rest
/// of the file. Every value is checked first: on a bad one nothing is written. With `as_user` (root writing for a
/// notebook user) every read, lock, mkdir and rename is done with that user's ids ([`files::user::run`]): what is
/// created is theirs, and a link they planted leads nowhere they could not write themselves. Returns the file's
/// new text.
pub fn write(
    path: &Path,
    values: &[(String, Option<String>)],
    as_user: Option<&AsUser>,
) -> Result<String> {
    check(values)?;
    files::user::run(as_user, || write_here(path, values))
}

fn write_here(path: &Path, values: &[(String, Option<String>)]) -> Result<String> {
    let outcome = pipconf::update_file(path, |doc| {
        for (k, v) in values {
            match v {
                Some(v) => doc.set(SECTION, k, v.trim(), None)?,
                None => {
                    doc.remove(SECTION, k)?;
                }
            }
        }
        Ok(())
    })?;
    Ok(outcome.new_text)
}

/// Where `ca-login configure` writes: `$CA_LOGIN_CONFIG`, else `HOME/.config/ca-login/config` for `home`
/// (None: the running user's config directory).
pub fn path_for(home: Option<&Path>) -> Result<PathBuf> {
    settings::config_path_for_home(home).ok_or_else(|| {
        Error::config(
            PathBuf::from("~/.config/ca-login/config"),
            "cannot find the user's config directory (no HOME)",
            "set HOME, or CA_LOGIN_CONFIG to the file to write",
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn kv(pairs: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn write_creates_the_file_0600_with_a_default_section_that_settings_read_back() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/config");
        write(
            &p,
            &kv(&[
                ("domain", Some("mydomain")),
                ("domain_owner", Some("111122223333")),
                ("repository", Some("isolatedsm")),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        let read = settings::read_config_file(&p, None).unwrap().unwrap();
        assert!(
            read.contains(&("domain".into(), "mydomain".into())),
            "{read:?}"
        );
        assert!(
            read.contains(&("repository".into(), "isolatedsm".into())),
            "{read:?}"
        );
    }

    #[test]
    fn write_keeps_other_lines_and_sections_and_removes_keys_given_none() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config");
        let before = "# mine\n[default]\ndomain = old\nregion = eu-west-1 ; keep?\n\n[profile x]\ndomain = other\n";
        std::fs::write(&p, before).unwrap();
        let text = write(
            &p,
            &kv(&[("domain", Some("newdom")), ("region", None)]),
            None,
        )
        .unwrap();
        assert!(
            text.starts_with("# mine\n[default]\ndomain = newdom\n"),
            "{text}"
        );
        assert!(!text.contains("eu-west-1"), "{text}");
        assert!(text.contains("[profile x]\ndomain = other\n"), "{text}");
    }

    #[test]
    fn a_bad_value_writes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config");
        std::fs::write(&p, "[default]\ndomain = mydomain\n").unwrap();
        let e = write(
            &p,
            &kv(&[
                ("repository", Some("ok-repo")),
                ("domain_owner", Some("12")),
            ]),
            None,
        )
        .unwrap_err();
        assert_eq!(e.cause(), "invalid-input");
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "[default]\ndomain = mydomain\n"
        );
        let e = write(&p, &kv(&[("colour", Some("blue"))]), None).unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn validate_accepts_what_login_accepts() {
        validate(
            "repository_endpoint_url",
            "vpce-0123-abcd.d.codeartifact.us-west-2.vpce.amazonaws.com",
        )
        .unwrap();
        validate(
            "repository_endpoint_url",
            "https://vpce-1.d.codeartifact.us-west-2.vpce.amazonaws.com/",
        )
        .unwrap();
        validate("duration_seconds", "3600").unwrap();
        assert!(validate("duration_seconds", "60").is_err());
        assert!(validate("endpoint_url", "ftp://x").is_err());
        assert!(validate("repository_endpoint_url", "bad host!").is_err());
    }

    #[test]
    fn write_as_a_user_creates_their_dirs_and_file_and_follows_no_dangling_link_out_of_reach() {
        // What `ca-login configure --user NAME` relies on: the writes happen with the user's ids, so what is
        // created is theirs, and a dangling link to a root directory creates nothing there.
        use std::os::unix::fs::{chown, symlink};
        if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = d.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let (uid, gid) = (54321, 54322);
        chown(&home, Some(uid), Some(gid)).unwrap();
        let who = AsUser {
            uid,
            gid,
            groups: vec![gid],
        };
        let p = home.join(".config/ca-login/config");
        write(&p, &kv(&[("domain", Some("mydomain"))]), Some(&who)).unwrap();
        for path in [
            home.join(".config"),
            home.join(".config/ca-login"),
            p.clone(),
            pipconf::lock_path(&p).unwrap(),
        ] {
            let m = std::fs::metadata(&path).unwrap();
            assert_eq!((m.uid(), m.gid()), (uid, gid), "{}", path.display());
        }
        assert_eq!(
            std::fs::metadata(home.join(".config/ca-login"))
                .unwrap()
                .mode()
                & 0o777,
            0o700
        );
        // A dangling link into a root-only directory: root (as the user) creates nothing there.
        let root_dir = d.path().join("rootonly");
        std::fs::create_dir(&root_dir).unwrap();
        std::fs::set_permissions(&root_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::remove_file(&p).unwrap();
        symlink(root_dir.join("planted"), &p).unwrap();
        let err = write(&p, &kv(&[("domain", Some("mydomain"))]), Some(&who)).unwrap_err();
        assert_eq!(err.cause(), "config-error");
        assert!(!root_dir.join("planted").exists());
    }
}
