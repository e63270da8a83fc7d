//! AWS named profiles for archives on S3: `object_store` 0.14 reads the
//! `AWS_*` variables but not the AWS CLI's files, so this module reads
//! them, as the CLI does, and hands what it finds to the S3 client builder.
//!
//! - The profile is `AWS_PROFILE`, else `default`. A profile named in
//!   `AWS_PROFILE` that neither file has is an error (a typo would
//!   otherwise fall through to other credentials); a missing `default` is
//!   not.
//! - The files are `AWS_SHARED_CREDENTIALS_FILE` (else
//!   `~/.aws/credentials`), whose sections are `[NAME]`, and
//!   `AWS_CONFIG_FILE` (else `~/.aws/config`), whose sections are
//!   `[profile NAME]`, and `[default]` for the default profile. A key in
//!   the credentials file wins over the same key in the config file.
//! - Keys read: `aws_access_key_id`, `aws_secret_access_key`,
//!   `aws_session_token`, `region`, `endpoint_url`.
//! - Precedence, as in the AWS chain: credentials in the environment
//!   (`AWS_ACCESS_KEY_ID`) win over the profile's, whole (a profile's key
//!   is never paired with the environment's secret); `AWS_REGION` or
//!   `AWS_DEFAULT_REGION` over its `region`; `AWS_ENDPOINT_URL` over its
//!   `endpoint_url`. `[archive] region` and `endpoint` in chronicle.toml
//!   win over all (applied after this, in [`super::object`]).
//! - Roles, SSO and `credential_process` are not followed: a profile that
//!   only has those is an error saying so, unless the environment has
//!   credentials (exported from it), which are then used with its region.
//!
//! No value read here is ever printed: errors name the file, the profile
//! and the key, never a value, and [`Profile`]'s `Debug` hides secrets.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ini::{Ini, ParseOption};
use object_store::aws::AmazonS3Builder;

/// What a profile sets; only what the files hold.
#[derive(Default, PartialEq)]
pub struct Profile {
    pub name: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<hidden>");
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("access_key_id", &hidden(&self.access_key_id))
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("session_token", &hidden(&self.session_token))
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .finish()
    }
}

/// Keys a profile may use instead of static credentials, which chronicle
/// does not follow.
const UNSUPPORTED: [&str; 4] = [
    "role_arn",
    "credential_process",
    "sso_start_url",
    "sso_session",
];

/// The environment, as a lookup (tests pass their own).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn var(env: Env<'_>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.is_empty())
}

/// Reads the profile the environment names: `None` when it is the default
/// one and neither file has it.
pub fn load(env: Env<'_>) -> anyhow::Result<Option<Profile>> {
    let named = var(env, "AWS_PROFILE");
    let name = named.clone().unwrap_or_else(|| "default".to_string());
    let home = var(env, "HOME").map(PathBuf::from);
    let file = |variable: &str, default: &str| {
        var(env, variable)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
    };
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let config = file("AWS_CONFIG_FILE", "config");
    let mut profile = Profile {
        name: name.clone(),
        ..Profile::default()
    };
    let mut found = false;
    let mut unsupported = None;
    // The config file first: the credentials file's keys replace its.
    let sources = [
        (config.as_deref(), config_sections(&name)),
        (credentials.as_deref(), vec![name.clone()]),
    ];
    for (path, sections) in sources {
        let Some(ini) = path.map(read_ini).transpose()?.flatten() else {
            continue;
        };
        let path = path.expect("read above");
        // The first section that exists, as the CLI prefers `[profile default]`.
        let Some(section) = sections.iter().find_map(|s| ini.section(Some(s.as_str()))) else {
            continue;
        };
        found = true;
        for (key, value) in section.iter() {
            let slot = match key.to_ascii_lowercase().as_str() {
                "aws_access_key_id" => &mut profile.access_key_id,
                "aws_secret_access_key" => &mut profile.secret_access_key,
                "aws_session_token" => &mut profile.session_token,
                "region" => &mut profile.region,
                "endpoint_url" => &mut profile.endpoint_url,
                other => {
                    if UNSUPPORTED.contains(&other) {
                        unsupported = Some((other.to_string(), path.to_path_buf()));
                    }
                    continue;
                }
            };
            let value = value.trim();
            if !value.is_empty() {
                *slot = Some(value.to_string());
            }
        }
    }
    if !found {
        anyhow::ensure!(
            named.is_none(),
            "AWS profile `{name}` (AWS_PROFILE) is in neither {} nor {}",
            shown(credentials.as_deref()),
            shown(config.as_deref())
        );
        return Ok(None);
    }
    // Credentials in the environment replace the profile's whole, so the
    // profile's own are judged only when they would be used: a role or SSO
    // profile whose credentials were exported (what the error below asks
    // for) still gives its region and endpoint.
    if env_has_credentials(env) {
        return Ok(Some(profile));
    }
    if profile.access_key_id.is_some() != profile.secret_access_key.is_some() {
        anyhow::bail!(
            "AWS profile `{name}` has {} but not {}",
            if profile.access_key_id.is_some() {
                "aws_access_key_id"
            } else {
                "aws_secret_access_key"
            },
            if profile.access_key_id.is_some() {
                "aws_secret_access_key"
            } else {
                "aws_access_key_id"
            }
        );
    }
    if let Some((key, path)) = unsupported.filter(|_| profile.access_key_id.is_none()) {
        anyhow::bail!(
            "AWS profile `{name}` uses `{key}` ({}), which chronicle does not follow; export the credentials instead (`aws configure export-credentials --profile {name} --format env`)",
            path.display()
        );
    }
    Ok(Some(profile))
}

/// True when the environment gives credentials (`AWS_ACCESS_KEY_ID`),
/// which then win over a profile's, whole.
fn env_has_credentials(env: Env<'_>) -> bool {
    var(env, "AWS_ACCESS_KEY_ID").is_some()
}

/// The config file's section names for profile `name`.
fn config_sections(name: &str) -> Vec<String> {
    let mut sections = vec![format!("profile {name}")];
    if name == "default" {
        sections.push("default".into());
    }
    sections
}

fn shown(path: Option<&Path>) -> String {
    path.map_or("(no HOME)".into(), |p| p.display().to_string())
}

/// The file at `path`, or `None` when it does not exist. Values are taken
/// as written (no escapes or quotes), as the AWS CLI does.
fn read_ini(path: &Path) -> anyhow::Result<Option<Ini>> {
    if !path.exists() {
        return Ok(None);
    }
    let options = ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        ..ParseOption::default()
    };
    match Ini::load_from_file_opt(path, options) {
        Ok(ini) => Ok(Some(ini)),
        // Only where: a parse error's message could quote a secret.
        Err(ini::Error::Parse(e)) => {
            anyhow::bail!(
                "cannot read {}: not an INI file (line {})",
                path.display(),
                e.line
            )
        }
        Err(ini::Error::Io(e)) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Applies the profile to `builder` where the environment sets nothing
/// (the builder was made by `from_env`, which read the environment).
pub fn apply(builder: AmazonS3Builder, env: Env<'_>) -> anyhow::Result<AmazonS3Builder> {
    let Some(profile) = load(env)? else {
        return Ok(builder);
    };
    let mut b = builder;
    if !env_has_credentials(env) {
        if let (Some(id), Some(secret)) = (profile.access_key_id, profile.secret_access_key) {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
            if let Some(token) = profile.session_token {
                b = b.with_token(token);
            }
        }
    }
    if var(env, "AWS_REGION").is_none() && var(env, "AWS_DEFAULT_REGION").is_none() {
        if let Some(region) = profile.region {
            b = b.with_region(region);
        }
    }
    if var(env, "AWS_ENDPOINT_URL").is_none() && var(env, "AWS_ENDPOINT").is_none() {
        if let Some(endpoint) = profile.endpoint_url {
            b = b.with_endpoint(endpoint);
        }
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::aws::AmazonS3ConfigKey as Key;
    use std::collections::HashMap;

    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new(credentials: &str, config: &str) -> Files {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join(".aws")).unwrap();
            std::fs::write(dir.path().join(".aws/credentials"), credentials).unwrap();
            std::fs::write(dir.path().join(".aws/config"), config).unwrap();
            Files { dir }
        }

        fn env(&self, vars: &[(&str, &str)]) -> HashMap<String, String> {
            let mut env: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            env.insert("HOME".into(), self.dir.path().display().to_string());
            env
        }
    }

    fn lookup(env: &HashMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
        move |k| env.get(k).cloned()
    }

    const CREDENTIALS: &str = "\
[default]
aws_access_key_id = default-id
aws_secret_access_key = default-secret

[work]
aws_access_key_id=work-id
aws_secret_access_key=work-secret=with;odd#chars
aws_session_token = work-token
";

    const CONFIG: &str = "\
# comments are skipped
[default]
region = eu-west-1

[profile work]
region = us-east-2
endpoint_url = http://minio.internal:9000
aws_access_key_id = config-id

[work]
region = ignored-no-profile-prefix

[profile sso]
sso_session = corp
region = eu-central-1
";

    #[test]
    fn section_names_follow_the_aws_cli() {
        let files = Files::new(CREDENTIALS, CONFIG);
        let env = files.env(&[]);
        let p = load(&lookup(&env)).unwrap().unwrap();
        assert_eq!(p.name, "default");
        assert_eq!(p.access_key_id.as_deref(), Some("default-id"));
        assert_eq!(p.region.as_deref(), Some("eu-west-1"));

        // `[profile work]` in config, `[work]` in credentials, whose keys
        // win; values are taken as written.
        let env = files.env(&[("AWS_PROFILE", "work")]);
        let p = load(&lookup(&env)).unwrap().unwrap();
        assert_eq!(p.access_key_id.as_deref(), Some("work-id"));
        assert_eq!(
            p.secret_access_key.as_deref(),
            Some("work-secret=with;odd#chars")
        );
        assert_eq!(p.session_token.as_deref(), Some("work-token"));
        assert_eq!(p.region.as_deref(), Some("us-east-2"));
        assert_eq!(
            p.endpoint_url.as_deref(),
            Some("http://minio.internal:9000")
        );
        // Debug never shows a secret.
        let shown = format!("{p:?}");
        assert!(!shown.contains("work-secret") && !shown.contains("work-token"));
    }

    #[test]
    fn missing_profiles_and_unsupported_ones() {
        let files = Files::new(CREDENTIALS, CONFIG);
        let env = files.env(&[("AWS_PROFILE", "nope")]);
        let err = load(&lookup(&env)).unwrap_err().to_string();
        assert!(
            err.contains("`nope`") && err.contains("credentials"),
            "{err}"
        );
        let env = files.env(&[("AWS_PROFILE", "sso")]);
        let err = load(&lookup(&env)).unwrap_err().to_string();
        assert!(err.contains("sso_session"), "{err}");
        // No files and no AWS_PROFILE: nothing to apply, no error.
        let empty = tempfile::tempdir().unwrap();
        let env: HashMap<String, String> =
            [("HOME".to_string(), empty.path().display().to_string())].into();
        assert!(load(&lookup(&env)).unwrap().is_none());
        // Files named by the variables, not HOME's.
        let env: HashMap<String, String> = [
            ("HOME".to_string(), empty.path().display().to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE".to_string(),
                files
                    .dir
                    .path()
                    .join(".aws/credentials")
                    .display()
                    .to_string(),
            ),
            (
                "AWS_CONFIG_FILE".to_string(),
                files.dir.path().join(".aws/config").display().to_string(),
            ),
            ("AWS_PROFILE".to_string(), "work".to_string()),
        ]
        .into();
        assert_eq!(
            load(&lookup(&env))
                .unwrap()
                .unwrap()
                .access_key_id
                .as_deref(),
            Some("work-id")
        );
        // A parse error names the file and line, never the text.
        let bad = Files::new("[work\naws_secret_access_key = s3cr3t\n", "");
        let env = bad.env(&[("AWS_PROFILE", "work")]);
        let err = load(&lookup(&env)).unwrap_err().to_string();
        assert!(err.contains("line") && !err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn the_environment_wins_over_the_profile() {
        let files = Files::new(CREDENTIALS, CONFIG);
        let configured = |vars: &[(&str, &str)]| {
            let env = files.env(vars);
            let b = apply(AmazonS3Builder::new(), &lookup(&env)).unwrap();
            [Key::AccessKeyId, Key::Token, Key::Region, Key::Endpoint]
                .map(|k| b.get_config_value(&k))
        };
        let [id, token, region, endpoint] = configured(&[("AWS_PROFILE", "work")]);
        assert_eq!(id.as_deref(), Some("work-id"));
        assert_eq!(token.as_deref(), Some("work-token"));
        assert_eq!(region.as_deref(), Some("us-east-2"));
        assert_eq!(endpoint.as_deref(), Some("http://minio.internal:9000"));
        // Environment credentials replace the profile's whole (its token
        // too); region and endpoint likewise.
        let [id, token, region, endpoint] = configured(&[
            ("AWS_PROFILE", "work"),
            ("AWS_ACCESS_KEY_ID", "env-id"),
            ("AWS_DEFAULT_REGION", "ap-south-1"),
            ("AWS_ENDPOINT_URL", "http://other:9000"),
        ]);
        assert_eq!((id, token, region, endpoint), (None, None, None, None));
    }

    #[test]
    fn exported_credentials_beside_a_role_or_sso_profile_are_used() {
        // What the error for such a profile tells the user to do: export
        // its credentials (`aws configure export-credentials`) while
        // AWS_PROFILE stays set. The environment's keys are then the
        // credentials, as in the AWS CLI, and the profile's region applies.
        let files = Files::new(CREDENTIALS, CONFIG);
        let env = files.env(&[
            ("AWS_PROFILE", "sso"),
            ("AWS_ACCESS_KEY_ID", "exported-id"),
            ("AWS_SECRET_ACCESS_KEY", "exported-secret"),
        ]);
        let b = apply(AmazonS3Builder::new(), &lookup(&env)).unwrap();
        assert_eq!(
            b.get_config_value(&Key::Region).as_deref(),
            Some("eu-central-1")
        );
        assert_eq!(b.get_config_value(&Key::AccessKeyId), None);
        // A half pair of keys in a profile the environment overrides is
        // not used, so not an error either.
        let half = Files::new("[work]\naws_access_key_id = lone-id\n", "");
        let env = half.env(&[
            ("AWS_PROFILE", "work"),
            ("AWS_ACCESS_KEY_ID", "exported-id"),
            ("AWS_SECRET_ACCESS_KEY", "exported-secret"),
        ]);
        assert!(apply(AmazonS3Builder::new(), &lookup(&env)).is_ok());
        // Without exported credentials, both are still errors.
        let env = files.env(&[("AWS_PROFILE", "sso")]);
        assert!(apply(AmazonS3Builder::new(), &lookup(&env)).is_err());
        let env = half.env(&[("AWS_PROFILE", "work")]);
        assert!(apply(AmazonS3Builder::new(), &lookup(&env)).is_err());
    }
}
