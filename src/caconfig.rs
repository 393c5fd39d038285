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
        "endpoint_type" => settings::validate_endpoint_type(v, &settings::Source::Argument),
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
        "tools" => {
            if v.split(',').all(|t| t.trim().is_empty()) {
                return Err(Error::invalid(
                    "tools",
                    "no tool named",
                    "give one or several of pip, uv, poetry, twine, e.g. --tool pip,uv",
                ));
            }
            crate::tools::parse_tools(&[v]).map(|_| ())
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
                Some(v) if k == "tools" => doc.set(SECTION, k, &canonical_tools(v)?, None)?,
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

/// `uv, PIP,uv` as it is written: each tool once, lowercase, in the order given (`pip,uv`).
fn canonical_tools(v: &str) -> Result<String> {
    let tools = crate::tools::parse_tools(&[v])?;
    Ok(tools
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(","))
}

/// The tool list of the target user's ca-login config (`tools = pip,uv`, in `[profile NAME]` when the profile
/// in use has that section, else `[default]`), to use when a login, ensure_login or refresh is not told which
/// tools; `None` when the config names none.
///
/// Acting for a user (`--user`), this reads *their* config, with their ids ([`files::user::run`]), unlike the
/// settings ([`crate::login::ca_config_path`] is root's own config): a user's `endpoint_url` or `profile` must
/// not steer root's signed calls, but the tool list only decides which of the user's own files are written,
/// and those are written as the user anyway. So the user gets no power from it they did not have.
pub fn configured_tools(
    target: &crate::login::Target,
    profile: Option<&str>,
) -> Result<Option<String>> {
    let path = match (&target.as_user, target.home.as_deref()) {
        (Some(_), Some(home)) => settings::config_path_of_user(home),
        _ => match settings::config_path_for_home(target.home.as_deref()) {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    let profile = profile.map(str::to_string).or_else(|| {
        std::env::var("AWS_PROFILE")
            .ok()
            .filter(|p| !p.trim().is_empty())
    });
    let kv = files::user::run(target.as_user.as_ref(), || {
        settings::read_config_file(&path, profile.as_deref())
    })?;
    let Some(value) = kv.and_then(|kv| kv.into_iter().find(|(k, _)| k == "tools").map(|(_, v)| v))
    else {
        return Ok(None);
    };
    if value.is_empty() {
        return Ok(None);
    }
    canonical_tools(&value).map(Some).map_err(|e| {
        Error::config(
            path.clone(),
            format!("its tools = {value:?} is not a list of tools: {}", e.to_string().lines().next().unwrap_or("")),
            "fix it with `ca-login configure --tool pip,uv` (pip, uv, poetry, twine), or pass --tool",
        )
    })
}

/// The IPython startup file `ca-login configure --ipython-extension` writes in a profile's `startup/` dir.
/// IPython runs every `*.py` there, in name order, at the start of every kernel and shell that uses the
/// profile (`IPYTHONDIR/profile_default/startup/`); IPython's config loader (traitlets) reads no
/// `ipython_config.d/` directory, so a startup file is the one place that needs no edit of the user's own
/// `ipython_config.py`.
pub const IPYTHON_STARTUP_NAME: &str = "50-ca-login.py";

/// What the startup file holds: the extension, loaded as `%load_ext ca_login` would load it. It never raises
/// (a kernel must start whatever happens) and prints nothing when all is well.
pub const IPYTHON_STARTUP: &str = "\
# ca-login: the IPython extension in every kernel of this profile, as `%load_ext ca_login` loads it.
# Written by `ca-login configure --ipython-extension`; `ca-login configure --no-ipython-extension` removes it.
try:
    from ca_login._ipython import kernel_start as _ca_login_start
except ImportError:  # ca_login is not installed in this kernel's environment
    pass
else:
    _ca_login_start(globals().get(\"get_ipython\"))
    del _ca_login_start
";

/// The first line of the startup file earlier Studio lifecycle scripts wrote under the same name (ours too).
const OLD_STUDIO_STARTUP_HEAD: &str = "# ca-login (written by its lifecycle script):";

/// The startup file in the IPython directory `ipython_dir` (`$IPYTHONDIR`, else `~/.ipython`).
pub fn ipython_startup_path(ipython_dir: &Path) -> PathBuf {
    ipython_dir
        .join("profile_default")
        .join("startup")
        .join(IPYTHON_STARTUP_NAME)
}

fn startup_is_ours(text: &str) -> bool {
    text == IPYTHON_STARTUP || text.starts_with(OLD_STUDIO_STARTUP_HEAD)
}

/// Turns the IPython extension on (`on`: writes [`IPYTHON_STARTUP`] at `path`, atomically, 0600, missing
/// directories made 0700) or off (removes the file at `path` if it is one we wrote, and nothing else). A file
/// of someone else's at `path` is never replaced or removed. With `as_user`, every read, mkdir, rename and
/// removal is done with that user's ids. Returns what was done: `written`, `unchanged`, `removed`, `absent`,
/// or `not-ours` (off, and the file there is not ours: left as it is).
pub fn set_ipython_extension(
    path: &Path,
    on: bool,
    as_user: Option<&AsUser>,
) -> Result<&'static str> {
    files::user::run(as_user, || {
        let doing = "read the IPython startup file";
        let current =
            files::read_bytes(path, doing)?.map(|b| String::from_utf8_lossy(&b).into_owned());
        match (on, current) {
            (true, Some(text)) if text == IPYTHON_STARTUP => Ok("unchanged"),
            (true, Some(text)) if !startup_is_ours(&text) => Err(Error::config(
                path,
                "holds an IPython startup file that ca-login did not write: left as it is",
                format!(
                    "move it away (`mv {} {}`) and run `ca-login configure --ipython-extension` again, \
                     or add `%load_ext ca_login` to it yourself",
                    files::shell_word(path),
                    files::shell_word(Path::new(&{
                        let mut mine = path.as_os_str().to_owned();
                        mine.push(".mine");
                        mine
                    }))
                ),
            )),
            (true, _) => files::write_atomic(path, IPYTHON_STARTUP).map(|_| "written"),
            (false, None) => Ok("absent"),
            (false, Some(text)) if !startup_is_ours(&text) => Ok("not-ours"),
            (false, Some(_)) => {
                let target = files::resolve_target(path)?;
                files::restore(&target, None).map(|()| "removed")
            }
        }
    })
}

/// Where `ca-login configure` writes: `$CA_LOGIN_CONFIG`, else `HOME/.config/ca-login/config` for `home`
/// (None: the running user's config directory). For another user (`for_other_user`, root with `--user`) always
/// their `HOME/.config/ca-login/config`: root's `CA_LOGIN_CONFIG` is root's.
pub fn path_for(home: Option<&Path>, for_other_user: bool) -> Result<PathBuf> {
    if let (true, Some(h)) = (for_other_user, home) {
        return Ok(settings::config_path_of_user(h));
    }
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
    fn tools_are_checked_written_as_one_canonical_list_and_read_back_for_the_target() {
        assert!(validate("tools", "pip,uv").is_ok());
        assert!(validate("tools", "pip,npm").is_err());
        assert!(validate("tools", " , ").is_err());
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".config/ca-login/config");
        write(&p, &kv(&[("tools", Some(" uv, PIP,uv "))]), None).unwrap();
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .contains("tools = uv,pip\n"),
            "{}",
            std::fs::read_to_string(&p).unwrap()
        );
        let target = crate::login::Target {
            home: Some(d.path().to_path_buf()),
            ..Default::default()
        };
        assert_eq!(
            configured_tools(&target, None).unwrap().as_deref(),
            Some("uv,pip")
        );
        write(&p, &kv(&[("tools", None)]), None).unwrap();
        assert_eq!(configured_tools(&target, None).unwrap(), None);
        std::fs::write(&p, "[default]\ntools = pip,npm\n").unwrap();
        let e = configured_tools(&target, None).unwrap_err();
        assert_eq!(e.cause(), "config-error");
        assert!(
            e.to_string().contains("npm") && e.to_string().contains("hint: "),
            "{e}"
        );
        let none = crate::login::Target {
            home: Some(d.path().join("nobody")),
            ..Default::default()
        };
        assert_eq!(configured_tools(&none, None).unwrap(), None);
    }

    #[test]
    fn the_ipython_startup_file_is_written_0600_once_and_removed_only_when_it_is_ours() {
        let d = tempfile::tempdir().unwrap();
        let p = ipython_startup_path(&d.path().join(".ipython"));
        assert_eq!(set_ipython_extension(&p, false, None).unwrap(), "absent");
        assert_eq!(set_ipython_extension(&p, true, None).unwrap(), "written");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), IPYTHON_STARTUP);
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert_eq!(set_ipython_extension(&p, true, None).unwrap(), "unchanged");
        assert_eq!(set_ipython_extension(&p, false, None).unwrap(), "removed");
        assert!(!p.exists());
        // An earlier Studio script's file under the same name is ours: replaced, then removed.
        std::fs::write(
            &p,
            "# ca-login (written by its lifecycle script): old\nprint()\n",
        )
        .unwrap();
        assert_eq!(set_ipython_extension(&p, true, None).unwrap(), "written");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), IPYTHON_STARTUP);
        // Someone else's file there is neither replaced nor removed.
        let mine = "# my own startup\nimport numpy\n";
        std::fs::write(&p, mine).unwrap();
        let e = set_ipython_extension(&p, true, None).unwrap_err();
        assert_eq!(e.cause(), "config-error");
        assert!(e.to_string().contains("hint: "), "{e}");
        assert_eq!(set_ipython_extension(&p, false, None).unwrap(), "not-ours");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), mine);
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
        validate("endpoint_type", "dualstack").unwrap();
        assert!(validate("endpoint_type", "ipv6").is_err());
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
