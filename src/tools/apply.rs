//! Writing the files of uv, Poetry, twine and netrc for a login, and taking our part out again at logout. Each
//! file through `files`: locked, read only if it is a regular file (bounded), written atomically with mode 0600
//! (as the target user: the caller runs this inside `files::user::run`), its own state record (`tool`, `created`: the login created it, so logout removes it).

use std::path::{Path, PathBuf};

use super::{poetry, twine, uv, Env, TokenStore, Tool};
use crate::files::{self, netrc, pypirc, toml};
use crate::{pipconf, state};
use crate::{Error, Result};

/// The state's tool name of the netrc file (shared by every tool logged in with the netrc store).
pub const NETRC: &str = "netrc";

/// What a login asks of the tools other than pip's config file.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub tools: &'a [Tool],
    /// The store asked for (None: each tool's default).
    pub store: Option<TokenStore>,
    pub extra_index: bool,
    pub poetry_source: &'a str,
    /// The repository endpoint, without credentials.
    pub endpoint: &'a str,
    pub home: &'a Path,
}

/// A file a login writes, and for which tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFile {
    /// `"uv"`, `"poetry"`, `"twine"`, `"netrc"`.
    pub tool: String,
    pub config_file: PathBuf,
    pub token_store: TokenStore,
}

/// One file to write: its text before (None: it does not exist) and after, and a preview with passwords masked.
#[derive(Clone)]
pub struct Planned {
    pub file: ToolFile,
    pub before: Option<String>,
    pub after: String,
    pub preview: String,
}

impl std::fmt::Debug for Planned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the texts: they hold the token.
        f.debug_struct("Planned").field("file", &self.file).finish()
    }
}

/// Reads a tool's file through `files` (regular files only, at most 1 MiB): `None` if missing; not UTF-8 is an
/// error.
pub fn read(path: &Path) -> Result<Option<String>> {
    match files::read_bytes(path, "read the file")? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            Error::config(
                path,
                "is not UTF-8",
                format!("save {} as UTF-8", path.display()),
            )
        }),
    }
}

/// The files each tool reads, with the store it gets. The netrc file comes once, last.
pub fn files(req: &Request<'_>, env: &dyn Env) -> Vec<ToolFile> {
    let mut out = Vec::new();
    let mut netrc_needed = false;
    for &tool in req.tools {
        let store = tool.store(req.store);
        netrc_needed |= store == TokenStore::Netrc;
        let path = match (tool, store) {
            (Tool::Pip, _) => continue,
            (Tool::Uv, _) => uv::config_file(env, req.home),
            // With netrc, `edit` takes our block out of Poetry's auth.toml; its record keeps the netrc entry alive.
            (Tool::Poetry, _) => poetry::auth_file(env, req.home),
            (Tool::Twine, _) => twine::pypirc_file(req.home),
        };
        out.push(ToolFile {
            tool: tool.as_str().into(),
            config_file: path,
            token_store: store,
        });
    }
    if netrc_needed {
        out.push(ToolFile {
            tool: NETRC.into(),
            config_file: super::netrc_file(env, req.home),
            token_store: TokenStore::Netrc,
        });
    }
    out
}

fn host_of(endpoint: &str) -> Result<String> {
    url::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .ok_or_else(|| {
            Error::invalid(
                "repository endpoint",
                "has no host name",
                "check --repository-endpoint-url",
            )
        })
}

/// The new text of one file.
pub fn edit(
    req: &Request<'_>,
    file: &ToolFile,
    before: &str,
    token: &str,
) -> Result<(String, String)> {
    let path = &file.config_file;
    let simple = super::simple_url(req.endpoint);
    if file.tool == "poetry" && file.token_store == TokenStore::Netrc {
        // Poetry takes auth.toml over netrc: an earlier url-store login's block (ours, marked) goes.
        let (after, found) = toml::remove(before);
        let note = if found {
            "(our [http-basic] block taken out: Poetry finds the token in netrc)"
        } else {
            "(left as it is: Poetry finds the token in netrc)"
        };
        return Ok((after, note.to_string()));
    }
    let after = match file.tool.as_str() {
        "uv" => toml::set_uv_index(path, before, &simple, !req.extra_index)?,
        "poetry" => toml::set_poetry_auth(path, before, req.poetry_source, token)?,
        "twine" => pypirc::set(path, before, req.endpoint, token)?,
        _ => netrc::set(path, before, &host_of(req.endpoint)?, token)?,
    };
    let preview = match file.tool.as_str() {
        "uv" => after.clone(),
        "poetry" => toml::preview(&after),
        "twine" => pypirc::preview(&after),
        _ => netrc::preview(&after),
    };
    Ok((after, preview))
}

/// Plans every file: reads each and computes its new text, so that a file we cannot edit stops the login before
/// anything is written (and before any network call when `token` is a placeholder).
pub fn plan(req: &Request<'_>, env: &dyn Env, token: &str) -> Result<Vec<Planned>> {
    if req.tools.contains(&Tool::Poetry) {
        toml::check_source(req.poetry_source)?;
    }
    files(req, env)
        .into_iter()
        .map(|file| {
            let before = read(&file.config_file)?;
            let (after, preview) = edit(req, &file, before.as_deref().unwrap_or(""), token)?;
            Ok(Planned {
                file,
                before,
                after,
                preview,
            })
        })
        .collect()
}

/// Writes one file under its lock (read again under the lock: another login may have written it meanwhile), for
/// a file no earlier login is recorded to have created. Returns whether the file existed before.
pub fn write(req: &Request<'_>, file: &ToolFile, token: &str) -> Result<bool> {
    write_recorded(req, file, token, false)
}

/// [`write`], where `created` says the recorded earlier login created the file: a switch that takes our part out
/// (Poetry to the netrc store) removes such a file when nothing else is left in it, as logout would.
pub fn write_recorded(
    req: &Request<'_>,
    file: &ToolFile,
    token: &str,
    created: bool,
) -> Result<bool> {
    let path = &file.config_file;
    let _lock = files::lock(path)?;
    let before = read(path)?;
    let (after, _) = edit(req, file, before.as_deref().unwrap_or(""), token)?;
    match before.as_deref() {
        Some(b) if b == after => {}
        Some(_) if created && after.is_empty() => {
            std::fs::remove_file(path).map_err(|e| {
                Error::config(path, format!("cannot remove it: {e}"), "remove it by hand")
            })?;
        }
        None if after.is_empty() => {}
        _ => {
            files::write_atomic(path, &after)?;
        }
    }
    Ok(before.is_some())
}

/// The netrc entry goes with the last login that uses it (the rule logout follows): after a login that switched a
/// tool from the netrc store to its own file, removes our netrc entry, and its record, when no recorded login of
/// any tool has the netrc store any more. Returns the files changed.
pub fn drop_unused_netrc(state_file: &Path) -> Result<Vec<PathBuf>> {
    let left = state::load(state_file)?;
    if left
        .entries()
        .any(|e| e.token_store == TokenStore::Netrc.as_str() && e.tool != NETRC)
    {
        return Ok(Vec::new());
    }
    let netrc: Vec<state::Entry> = left
        .entries()
        .filter(|e| e.tool == NETRC)
        .cloned()
        .collect();
    let mut changed = Vec::new();
    for e in &netrc {
        if unwrite(NETRC, &e.config_file, e.created)? {
            changed.push(e.config_file.clone());
        }
        state::remove(state_file, &e.config_file)?;
    }
    Ok(changed)
}

/// Takes our part out of a tool's file; removes the file when the login created it and nothing else is left.
/// Returns whether the file changed.
pub fn unwrite(tool: &str, path: &Path, created: bool) -> Result<bool> {
    let _lock = files::lock(path)?;
    let Some(text) = read(path)? else {
        return Ok(false);
    };
    let (rest, found) = match tool {
        "uv" | "poetry" => toml::remove(&text),
        "twine" => pypirc::remove(&text),
        _ => netrc::remove(&text),
    };
    if !found {
        return Ok(false);
    }
    if created && rest.is_empty() {
        std::fs::remove_file(path).map_err(|e| {
            Error::config(path, format!("cannot remove it: {e}"), "remove it by hand")
        })?;
    } else {
        files::write_atomic(path, &rest)?;
    }
    Ok(true)
}

/// Whether `text` (the file of `tool`) still holds what we wrote.
pub fn holds_ours(tool: &str, path: &Path, text: &str, endpoint: &str) -> bool {
    match tool {
        "uv" => uv::has_our_index(path, text, &super::simple_url(endpoint)),
        "poetry" | "twine" => crate::files::block::find(text).is_some(),
        _ => host_of(endpoint)
            .ok()
            .is_some_and(|h| netrc::our_host(text).as_deref() == Some(h.as_str())),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// pip's extra-index-url mode: our entry in `[global] extra-index-url` instead of `index-url`
// ---------------------------------------------------------------------------------------------------------------

/// Whether pip's `url` (an index-url or an extra-index-url entry) is the repository's simple index, whatever
/// credentials it carries (the token store `url` puts them in, `netrc` leaves them out).
fn is_ours_for(url: &str, endpoint: &str) -> bool {
    pipconf::is_our_extra_entry(url, &super::simple_url(endpoint))
}

/// Takes back, in `doc`, what a login in the other mode wrote there, so that the file holds one entry of ours,
/// never two. Before an extra-index login (`extra`): our `[global] index-url` gets back the value recorded from
/// before the first login (or goes); without a record, only one with our `# ca-login:` comment above it goes.
/// Before an index-url login: our entry leaves `extra-index-url` when the record says extra-index mode, or,
/// without a record, when our comment is above it.
pub fn take_back_other_mode(
    doc: &mut pipconf::Document,
    extra: bool,
    endpoint: &str,
    recorded: Option<&state::Entry>,
) -> Result<()> {
    let simple = super::simple_url(endpoint);
    if !extra {
        let ours = match recorded {
            Some(e) => e.extra_index,
            None => doc.our_extra_is_commented(&simple),
        };
        if ours {
            doc.remove_extra_index(&simple)?;
        }
        return Ok(());
    }
    let Some(current) = doc.get("global", "index-url") else {
        return Ok(());
    };
    if !is_ours_for(&current, endpoint) {
        return Ok(());
    }
    match recorded {
        Some(e) if e.extra_index => Ok(()),
        Some(e) => match e
            .had_previous
            .then(|| e.previous_index_url.clone())
            .flatten()
        {
            Some(prev) => doc.set("global", "index-url", &prev, None),
            None => doc.remove("global", "index-url").map(|_| ()),
        },
        None if doc.has_our_comment("global", "index-url") => {
            doc.remove("global", "index-url").map(|_| ())
        }
        None => Ok(()),
    }
}

/// An extra-index login's write of pip's file: under the file's lock, takes back an index-url login of ours and
/// puts `url` into `[global] extra-index-url` ([`pipconf::Document::set_extra_index`]), then records `entry`
/// (`extra_index`, `created` when the file did not exist). A failed record puts the file (and a record of the
/// other mode) back. Returns the preview, every password masked.
pub fn write_pip_extra(
    file: &Path,
    state_file: &Path,
    url: &str,
    comment: &str,
    mut entry: state::Entry,
) -> Result<String> {
    let recorded = state::load_or_replace(state_file).get(file).cloned();
    let endpoint = entry.repository_endpoint.clone();
    let outcome = pipconf::update_file(file, |doc| {
        take_back_other_mode(doc, true, &endpoint, recorded.as_ref())?;
        doc.set_extra_index(url, &super::simple_url(&endpoint), comment)
    })?;
    let switched = recorded.clone().filter(|e| !e.extra_index);
    entry.extra_index = true;
    entry.previous_index_url = None;
    entry.had_previous = false;
    entry.created = match &recorded {
        Some(e) if e.extra_index => e.created,
        _ => outcome.previous_text.is_none(),
    };
    // A record of the other mode goes first: `state::record` would keep its previous index-url.
    let step = match &switched {
        Some(_) => state::remove(state_file, file).and_then(|_| state::record(state_file, entry)),
        None => state::record(state_file, entry),
    };
    if let Err(e) = step {
        if outcome.written {
            if let Err(re) = files::restore(&outcome.target, outcome.previous_text.as_deref()) {
                log::warn!("cannot put pip's config back after the failed login: {re}");
            }
        }
        if let Some(old) = switched {
            let _ = state::record(state_file, old);
        }
        return Err(e);
    }
    Ok(crate::secret::mask_url(&outcome.new_text))
}

/// Logout of an extra-index login: takes our entry for `endpoint` out of `[global] extra-index-url` (every other
/// byte kept); without a record (`endpoint` None), each entry with a CodeArtifact token under our `# ca-login:`
/// comment. Removes the file when the login created it and nothing else is left. Returns whether the file changed.
pub fn unwrite_pip_extra(file: &Path, endpoint: Option<&str>, created: bool) -> Result<bool> {
    if !file.exists() {
        return Ok(false);
    }
    let target = files::resolve_target(file)?;
    let _lock = files::lock(&target)?;
    let Some(mut doc) = pipconf::read_document(&target)? else {
        return Ok(false);
    };
    let removed = match endpoint {
        Some(ep) => doc.remove_extra_index(&super::simple_url(ep))?,
        None => doc.remove_commented_token_extras()?,
    };
    if !removed {
        return Ok(false);
    }
    let rest = doc.render();
    if created && rest.is_empty() {
        std::fs::remove_file(&target).map_err(|e| {
            Error::config(
                &target,
                format!("cannot remove it: {e}"),
                "remove it by hand",
            )
        })?;
    } else {
        files::write_atomic(&target, &rest)?;
    }
    Ok(true)
}

/// The warning every pip extra-index login gives: two indexes allow dependency confusion.
pub fn dependency_confusion_warning(domain: &str, owner: Option<&str>, repository: &str) -> String {
    let owner = owner
        .map(|o| format!(" --domain-owner {o}"))
        .unwrap_or_default();
    format!(
        "two indexes allow dependency confusion: pip now asks both its index-url and {domain}/{repository} for every \
         package and installs the highest version found on either, so a public package with the name of a private \
         one can replace it\n\
         hint: log in without --extra-index-url (Python: extra_index=False) so that the repository is pip's only \
         index, and reach public packages through a CodeArtifact upstream: aws codeartifact \
         associate-external-connection --domain {domain}{owner} --repository {repository} --external-connection \
         public:pypi"
    )
}

/// Why pip would not use the extra-index-url entry we wrote to `file`: `PIP_EXTRA_INDEX_URL`, an
/// `[install] extra-index-url` or a higher file's list wins (pip takes one list, not their union), or no-index.
pub fn pip_extra_warnings(file: &Path, ctx: &pipconf::PipContext, endpoint: &str) -> Vec<String> {
    if !pipconf::config_files(ctx).iter().any(|(_, p)| p == file) {
        return vec![format!(
            "pip does not read {} (it is none of pip's config files for this interpreter)\nhint: point pip at it with PIP_CONFIG_FILE={}, or log in without config_file",
            file.display(),
            file.display()
        )];
    }
    let eff = match pipconf::effective_index_url(ctx, "install") {
        Ok(eff) => eff,
        Err(e) => {
            return vec![format!(
                "cannot work out pip's effective configuration: {e}"
            )]
        }
    };
    let mut out = Vec::new();
    let from_file = matches!(&eff.extra_source, pipconf::Source::File { path, .. } if path == file);
    if eff.no_index {
        out.push(format!(
            "pip will not use any index: no-index is set by {}\nhint: remove no-index there",
            crate::login::describe_source(&eff.no_index_source)
        ));
    } else if !from_file
        || !eff
            .extra_index_urls
            .iter()
            .any(|u| is_ours_for(u, endpoint))
    {
        let hint = match &eff.extra_source {
            pipconf::Source::EnvVar { name } => format!(
                "unset {name} (e.g. `%env {name}=` in the notebook, or remove it from the kernel's environment), or add the repository to it"
            ),
            pipconf::Source::File { path, section, .. } => format!(
                "remove extra-index-url from [{section}] in {} or log in with config_file=\"{}\"",
                path.display(),
                path.display()
            ),
            pipconf::Source::Default => "pip reads none of its config files; is PIP_CONFIG_FILE=/dev/null set, or PIP_ISOLATED_MODE?".into(),
        };
        out.push(format!(
            "pip will not use the extra-index-url in {}: its extra-index-url comes from {}\nhint: {hint}",
            file.display(),
            crate::login::describe_source(&eff.extra_source)
        ));
    }
    out.iter().map(|w| crate::secret::mask_url(w)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::Vars;

    const EP: &str = "https://d-111122223333.d.codeartifact.us-west-2.amazonaws.com/pypi/r/";

    fn req<'a>(tools: &'a [Tool], home: &'a Path) -> Request<'a> {
        Request {
            tools,
            store: None,
            extra_index: false,
            poetry_source: "codeartifact",
            endpoint: EP,
            home,
        }
    }

    #[test]
    fn every_tool_gets_its_file_and_uv_brings_netrc() {
        let home = Path::new("/h");
        let all = [Tool::Pip, Tool::Uv, Tool::Poetry, Tool::Twine];
        let f = files(&req(&all, home), &Vars(&[("POETRY_CONFIG_DIR", "/p")]));
        let got: Vec<_> = f
            .iter()
            .map(|f| {
                (
                    f.tool.as_str(),
                    f.config_file.to_string_lossy().into_owned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("uv", "/h/.config/uv/uv.toml".into()),
                ("poetry", "/p/auth.toml".into()),
                ("twine", "/h/.pypirc".into()),
                ("netrc", "/h/.netrc".into()),
            ]
        );
        let only_pip = files(&req(&[Tool::Pip], home), &Vars(&[]));
        assert!(only_pip.is_empty());
        let mut r = req(&[Tool::Pip, Tool::Poetry], home);
        r.store = Some(TokenStore::Netrc);
        let f = files(&r, &Vars(&[]));
        assert_eq!(
            f.iter()
                .map(|f| (f.tool.as_str(), f.token_store))
                .collect::<Vec<_>>(),
            vec![("poetry", TokenStore::Netrc), ("netrc", TokenStore::Netrc)]
        );
    }

    #[test]
    fn write_then_unwrite_gives_back_every_file_byte_for_byte_and_removes_created_ones() {
        let dir = tempfile::tempdir().expect("tmp");
        let home = dir.path();
        std::fs::write(home.join(".netrc"), "machine other login u password p").expect("netrc");
        std::fs::write(
            home.join(".pypirc"),
            "[distutils]\r\nindex-servers = pypi\r\n",
        )
        .expect("pypirc");
        let tools = [Tool::Uv, Tool::Poetry, Tool::Twine];
        let r = req(&tools, home);
        let planned = plan(&r, &Vars(&[]), "placeholder").expect("plan");
        assert!(planned
            .iter()
            .all(|p| !p.preview.contains("placeholder") || p.file.tool == "uv"));
        let mut created = Vec::new();
        for p in &planned {
            let existed = write(&r, &p.file, "tok-1").expect("write");
            created.push(!existed);
            let text = std::fs::read_to_string(&p.file.config_file).expect("read");
            assert!(
                holds_ours(&p.file.tool, &p.file.config_file, &text, EP),
                "{}",
                p.file.tool
            );
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p.file.config_file)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{}", p.file.tool);
        }
        assert_eq!(created, vec![true, true, false, false]);
        let uv_text = std::fs::read_to_string(&planned[0].file.config_file).expect("uv");
        assert!(!uv_text.contains("tok-1"), "the token is never in uv.toml");
        for (p, c) in planned.iter().zip(&created) {
            assert!(unwrite(&p.file.tool, &p.file.config_file, *c).expect("unwrite"));
        }
        assert!(!planned[0].file.config_file.exists() && !planned[1].file.config_file.exists());
        assert_eq!(
            std::fs::read_to_string(home.join(".netrc")).expect("n"),
            "machine other login u password p"
        );
        assert_eq!(
            std::fs::read_to_string(home.join(".pypirc")).expect("p"),
            "[distutils]\r\nindex-servers = pypi\r\n"
        );
    }

    #[test]
    fn poetry_switching_to_netrc_takes_our_block_out_of_auth_toml_and_removes_a_file_it_created() {
        let dir = tempfile::tempdir().expect("tmp");
        let home = dir.path();
        let tools = [Tool::Poetry];
        let url = req(&tools, home);
        let mut via_netrc = req(&tools, home);
        via_netrc.store = Some(TokenStore::Netrc);
        let env = Vars(&[("POETRY_CONFIG_DIR", "")]);
        let auth = files(&url, &env)[0].clone();
        let netrc_auth = files(&via_netrc, &env)[0].clone();
        // The login created auth.toml: the switch removes it.
        assert!(!write_recorded(&url, &auth, "tok-1", false).expect("url login"));
        assert!(write_recorded(&via_netrc, &netrc_auth, "tok-2", true).expect("switch"));
        assert!(
            !auth.config_file.exists(),
            "the auth.toml the login created is still there"
        );
        // The user's own file: only our block goes, every other byte stays; the plan's preview says so.
        let own = "# mine\r\n[http-basic.other]\r\nusername = \"me\"\r\npassword = \"pw\"\r\n";
        std::fs::write(&auth.config_file, own).expect("own");
        assert!(write_recorded(&url, &auth, "tok-3", false).expect("url login"));
        let planned = plan(&via_netrc, &env, "placeholder").expect("plan");
        assert_eq!(planned[0].after, own);
        assert!(
            planned[0].preview.contains("taken out"),
            "{}",
            planned[0].preview
        );
        write_recorded(&via_netrc, &netrc_auth, "tok-4", false).expect("switch");
        assert_eq!(
            std::fs::read_to_string(&auth.config_file).expect("read"),
            own
        );
        // An empty file of the user's own stays, empty.
        std::fs::write(&auth.config_file, "").expect("empty");
        write_recorded(&url, &auth, "tok-5", false).expect("url login");
        write_recorded(&via_netrc, &netrc_auth, "tok-6", false).expect("switch");
        assert_eq!(
            std::fs::read_to_string(&auth.config_file).expect("read"),
            ""
        );
    }

    #[test]
    fn the_netrc_entry_goes_only_when_no_recorded_login_uses_the_netrc_store() {
        let dir = tempfile::tempdir().expect("tmp");
        let home = dir.path();
        let sp = home.join("state.json");
        let netrc_path = home.join(".netrc");
        let own = "machine other login u password p\n";
        std::fs::write(&netrc_path, own).expect("netrc");
        let tools = [Tool::Uv];
        let r = req(&tools, home);
        let nf = files(&r, &Vars(&[]))[1].clone();
        write(&r, &nf, "tok-1").expect("netrc");
        let rec = |tool: &str, file: &Path, store: &str| {
            let mut e = pip_entry(file, false, None);
            e.tool = tool.into();
            e.token_store = store.into();
            state::record(&sp, e).expect("record")
        };
        rec(NETRC, &netrc_path, "netrc");
        rec("uv", &home.join("uv.toml"), "netrc");
        rec("poetry", &home.join("auth.toml"), "url");
        assert!(
            drop_unused_netrc(&sp).expect("drop").is_empty(),
            "uv still uses it"
        );
        assert_ne!(std::fs::read_to_string(&netrc_path).expect("read"), own);
        state::remove(&sp, &home.join("uv.toml")).expect("remove");
        assert_eq!(
            drop_unused_netrc(&sp).expect("drop"),
            vec![netrc_path.clone()]
        );
        assert_eq!(std::fs::read_to_string(&netrc_path).expect("read"), own);
        let st = state::load(&sp).expect("state");
        assert!(
            st.entries().all(|e| e.tool != NETRC),
            "the netrc record stays"
        );
    }

    #[test]
    fn a_file_we_cannot_edit_stops_the_plan_a_directory_and_a_bad_source_name() {
        let dir = tempfile::tempdir().expect("tmp");
        let home = dir.path();
        std::fs::create_dir(home.join(".pypirc")).expect("dir");
        let err = plan(&req(&[Tool::Twine], home), &Vars(&[]), "t")
            .expect_err("dir")
            .to_string();
        assert!(err.contains(".pypirc") && err.contains("hint:"), "{err}");
        let mut r = req(&[Tool::Poetry], home);
        r.poetry_source = "no spaces";
        assert!(plan(&r, &Vars(&[]), "t").is_err());
    }

    fn pip_entry(file: &Path, extra: bool, previous: Option<&str>) -> state::Entry {
        state::Entry {
            tool: "pip".into(),
            config_file: file.to_path_buf(),
            repository_endpoint: EP.into(),
            domain: "d".into(),
            domain_owner: None,
            repository: "r".into(),
            region: "us-west-2".into(),
            expires_at: 2_000_000_000,
            issued_at: 1_999_990_000,
            previous_index_url: previous.map(String::from),
            had_previous: previous.is_some(),
            token_store: "url".into(),
            extra_index: extra,
            created: false,
            source: None,
        }
    }

    fn ours(token: &str) -> String {
        crate::settings::index_url(EP, token).expect("url")
    }

    #[test]
    fn pip_mode_switches_take_back_the_other_modes_entry_and_nothing_else() {
        let p = Path::new("/x/pip.conf");
        let mirror = "https://bob:pw@mirror.example/simple/";
        // index-url mode -> extra: the recorded previous index-url comes back.
        let mut doc = pipconf::Document::parse(
            &format!(
                "[global]\n# ca-login: t\nindex-url = {}\nextra-index-url = https://a/\n",
                ours("t1")
            ),
            p,
        )
        .expect("parse");
        let rec = pip_entry(p, false, Some(mirror));
        take_back_other_mode(&mut doc, true, EP, Some(&rec)).expect("take back");
        assert_eq!(
            doc.render(),
            format!("[global]\nindex-url = {mirror}\nextra-index-url = https://a/\n")
        );
        // Without a record, only an index-url of ours with our comment goes; a user's own stays.
        let theirs = format!("[global]\nindex-url = {}\n", ours("t2"));
        let mut doc = pipconf::Document::parse(&theirs, p).expect("parse");
        take_back_other_mode(&mut doc, true, EP, None).expect("take back");
        assert_eq!(doc.render(), theirs);
        // extra -> index-url mode: our list entry goes, the user's stays.
        let mut doc =
            pipconf::Document::parse("[global]\nextra-index-url = https://a/\n", p).expect("parse");
        doc.set_extra_index(&ours("t3"), &super::super::simple_url(EP), "t")
            .expect("set");
        let rec = pip_entry(p, true, None);
        take_back_other_mode(&mut doc, false, EP, Some(&rec)).expect("take back");
        assert_eq!(doc.render(), "[global]\nextra-index-url = https://a/\n");
        // A record of the same mode: nothing to take back.
        let text = format!("[global]\nindex-url = {}\n", ours("t4"));
        let mut doc = pipconf::Document::parse(&text, p).expect("parse");
        take_back_other_mode(&mut doc, false, EP, Some(&pip_entry(p, false, None))).expect("same");
        assert_eq!(doc.render(), text);
    }

    #[test]
    fn pip_extra_write_records_the_mode_and_unwrite_removes_only_a_file_it_created() {
        let dir = tempfile::tempdir().expect("tmp");
        let sp = dir.path().join("state.json");
        let created = dir.path().join("new/pip.conf");
        let preview = write_pip_extra(
            &created,
            &sp,
            &ours("tok-a"),
            "c",
            pip_entry(&created, true, None),
        )
        .expect("write");
        assert!(!preview.contains("tok-a"), "the preview shows the token");
        let rec = state::load(&sp)
            .expect("state")
            .get(&created)
            .cloned()
            .expect("entry");
        assert!(rec.extra_index && rec.created);
        assert!(unwrite_pip_extra(&created, Some(EP), rec.created).expect("unwrite"));
        assert!(
            !created.exists(),
            "the file the login created is still there"
        );
        let kept = dir.path().join("pip.conf");
        let original = "[global]\r\nextra-index-url = https://bob:pw@a/simple/\r\n";
        std::fs::write(&kept, original).expect("write");
        write_pip_extra(
            &kept,
            &sp,
            &ours("tok-b"),
            "c",
            pip_entry(&kept, true, None),
        )
        .expect("write");
        let rec = state::load(&sp)
            .expect("state")
            .get(&kept)
            .cloned()
            .expect("entry");
        assert!(rec.extra_index && !rec.created);
        assert!(unwrite_pip_extra(&kept, Some(EP), rec.created).expect("unwrite"));
        assert_eq!(std::fs::read_to_string(&kept).expect("read"), original);
        assert!(!unwrite_pip_extra(&kept, Some(EP), false).expect("again"));
    }

    #[test]
    fn pip_extra_warnings_name_the_variable_whose_list_wins() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut ctx = pipconf::PipContext::new(dir.path());
        ctx.global_dirs = Some(vec![]);
        let file = pipconf::user_config_files(&ctx)[1].clone();
        std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
        std::fs::write(
            &file,
            format!("[global]\nextra-index-url = {}\n", ours("t")),
        )
        .expect("write");
        assert!(pip_extra_warnings(&file, &ctx, EP).is_empty());
        ctx.env.push((
            "PIP_EXTRA_INDEX_URL".into(),
            "https://u:secret@other/simple/".into(),
        ));
        let w = pip_extra_warnings(&file, &ctx, EP);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("environment variable PIP_EXTRA_INDEX_URL")
                && w[0].contains("hint: unset"),
            "{}",
            w[0]
        );
        assert!(!w[0].contains("secret"), "the warning shows a password");
        let elsewhere = dir.path().join("elsewhere.conf");
        assert!(pip_extra_warnings(&elsewhere, &ctx, EP)[0].contains("pip does not read"));
        assert!(dependency_confusion_warning("d", Some("1"), "r").contains("public:pypi"));
    }
}
