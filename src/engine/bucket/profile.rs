//! The AWS tools' shared files: `~/.aws/credentials` and `~/.aws/config`
//! (or where `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE` put them),
//! read for the profile `AWS_PROFILE` names (else `default`), the way the AWS
//! CLI reads them. The environment's own `AWS_*` settings come first; these
//! fill in what it leaves out. object_store reads no files, so this does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What one profile says, by key (`aws_access_key_id`, `region`, …).
pub(crate) type Profile = HashMap<String, String>;

/// Why the profile asked for cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProfileError {
    #[error("{path}: {why}")]
    Unreadable { path: PathBuf, why: std::io::Error },
    #[error(
        "AWS_PROFILE names the profile {0:?}, which neither ~/.aws/credentials nor ~/.aws/config has"
    )]
    Missing(String),
}

/// The profile's settings from both files, the credentials file's first
/// (as the AWS CLI has it). A file that is not there is no error; a profile
/// named in `AWS_PROFILE` that neither holds is.
pub(crate) fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<Profile, ProfileError> {
    let home = env("HOME").map(PathBuf::from).unwrap_or_default();
    let file =
        |var: &str, default: &str| env(var).map_or_else(|| home.join(default), PathBuf::from);
    let named = env("AWS_PROFILE").filter(|p| !p.is_empty());
    let name = named.clone().unwrap_or_else(|| "default".into());
    let credentials = read(&file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"))?;
    let config = read(&file("AWS_CONFIG_FILE", ".aws/config"))?;
    // In the config file every profile but `default` is `[profile NAME]`.
    let in_config = match name.as_str() {
        "default" => "default".to_string(),
        other => format!("profile {other}"),
    };
    let from_credentials = section(&credentials, &name);
    let from_config = section(&config, &in_config);
    if named.is_some() && from_credentials.is_none() && from_config.is_none() {
        return Err(ProfileError::Missing(name));
    }
    let mut profile = from_config.unwrap_or_default();
    profile.extend(from_credentials.unwrap_or_default());
    Ok(profile)
}

fn read(path: &Path) -> Result<String, ProfileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(why) => Err(ProfileError::Unreadable {
            path: path.to_path_buf(),
            why,
        }),
    }
}

/// The keys of the section `[name]` of an INI text (`#` and `;` begin
/// comments; keys are lower-cased; an indented line belongs to a nested
/// setting such as `s3 =`, which is left out).
fn section(text: &str, name: &str) -> Option<Profile> {
    let mut found: Option<Profile> = None;
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(head) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = head.split_whitespace().collect::<Vec<_>>().join(" ") == name;
            if inside {
                found.get_or_insert_with(Profile::new);
            }
            continue;
        }
        if let (true, Some((key, value))) = (inside, line.split_once('=')) {
            let value = value.trim();
            if let Some(p) = found.as_mut().filter(|_| !value.is_empty()) {
                p.insert(key.trim().to_ascii_lowercase(), value.to_string());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |k| vars.get(k).cloned()
    }

    #[test]
    fn a_profile_comes_from_both_files_credentials_first() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(".aws")).unwrap();
        std::fs::write(
            t.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = D\n\n[work]\n# a comment\n\
             aws_access_key_id = W\nAWS_Secret_Access_Key=ws\n",
        )
        .unwrap();
        std::fs::write(
            t.path().join(".aws/config"),
            "[default]\nregion = eu-west-1\n[profile work]\nregion = us-east-2\n\
             aws_access_key_id = overridden\nendpoint_url = http://127.0.0.1:9000\n\
             s3 =\n  addressing_style = path\n",
        )
        .unwrap();
        let home = t.path().to_string_lossy().into_owned();
        let work = load(&env_of(&[
            ("HOME", home.clone()),
            ("AWS_PROFILE", "work".into()),
        ]))
        .unwrap();
        assert_eq!(work["aws_access_key_id"], "W");
        assert_eq!(work["aws_secret_access_key"], "ws");
        assert_eq!(work["region"], "us-east-2");
        assert_eq!(work["endpoint_url"], "http://127.0.0.1:9000");
        assert!(!work.contains_key("addressing_style"));
        let default = load(&env_of(&[("HOME", home.clone())])).unwrap();
        assert_eq!(default["aws_access_key_id"], "D");
        assert_eq!(default["region"], "eu-west-1");
        let missing = load(&env_of(&[("HOME", home), ("AWS_PROFILE", "nope".into())]));
        assert!(
            matches!(&missing, Err(ProfileError::Missing(p)) if p == "nope"),
            "{missing:?}"
        );
    }

    #[test]
    fn no_files_is_no_profile_and_no_error() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().to_string_lossy().into_owned();
        assert!(load(&env_of(&[("HOME", home)])).unwrap().is_empty());
    }
}
