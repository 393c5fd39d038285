//! twine: `~/.pypirc`, `codeartifact` in `[distutils] index-servers` and a `[codeartifact]` section (the
//! endpoint, `aws`, the token), as `aws codeartifact login --tool twine` writes it. `TWINE_USERNAME`,
//! `TWINE_PASSWORD`, `TWINE_REPOSITORY_URL` win over the file.

use std::path::{Path, PathBuf};

use super::Env;
use crate::files::pypirc::REPOSITORY;

/// twine's .pypirc.
pub fn pypirc_file(home: &Path) -> PathBuf {
    home.join(".pypirc")
}

/// Why `twine upload -r codeartifact` would not use our section: one line per reason.
pub fn overrides(env: &dyn Env) -> Vec<String> {
    ["TWINE_USERNAME", "TWINE_PASSWORD", "TWINE_REPOSITORY_URL"]
        .into_iter()
        .filter(|v| env.var(v).is_some())
        .map(|v| format!("{v} is set and wins over ~/.pypirc (unset {v})"))
        .collect()
}

/// The line the CLI prints.
pub fn upload_line() -> String {
    format!("twine upload -r {REPOSITORY} dist/*")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::Vars;

    #[test]
    fn overrides_name_the_twine_variables_set() {
        assert!(overrides(&Vars(&[])).is_empty());
        let o = overrides(&Vars(&[("TWINE_PASSWORD", "p"), ("TWINE_REPOSITORY", "x")]));
        assert_eq!(o.len(), 1);
        assert!(o[0].starts_with("TWINE_PASSWORD"));
        assert_eq!(upload_line(), "twine upload -r codeartifact dist/*");
        assert_eq!(pypirc_file(Path::new("/h")), PathBuf::from("/h/.pypirc"));
    }
}
