//! `hookgate component new`: a component project that builds with one command, for each
//! world and language. The templates live in `scaffold/` beside this crate's sources.

use std::path::{Path, PathBuf};

use crate::model::World;

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("`{0}` is not a world: use authenticator, transformer or condition")]
    World(String),
    #[error("`{0}` is not a supported language: use rust, js or python")]
    Language(String),
    #[error("{0} exists and is not empty")]
    NotEmpty(String),
    #[error("cannot write {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The contract, copied into JS and Python projects (their tools read WIT files).
const WIT: &str = include_str!("../../wit/plugin.wit");
/// The SDK of this checkout, which Rust projects depend on by path.
const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");

fn world(name: &str) -> Result<World, ScaffoldError> {
    World::ALL.into_iter().find(|w| w.as_str() == name).ok_or_else(|| ScaffoldError::World(name.to_string()))
}

/// The files of a project: (relative path, contents).
fn files(world: World, lang: &str, name: &str) -> Result<Vec<(&'static str, String)>, ScaffoldError> {
    let pick = |a: &'static str, t: &'static str, c: &'static str| match world {
        World::Authenticator => a,
        World::Transformer => t,
        World::Condition => c,
    };
    let fill = |text: &str| text.replace("{{name}}", name).replace("{{world}}", world.as_str());
    Ok(match lang {
        "rust" => {
            let sdk = std::fs::canonicalize(SDK_DIR).unwrap_or_else(|_| PathBuf::from(SDK_DIR));
            vec![
                ("Cargo.toml", fill(include_str!("../scaffold/rust/Cargo.toml")).replace("{{sdk}}", &sdk.display().to_string())),
                (
                    "src/lib.rs",
                    fill(pick(
                        include_str!("../scaffold/rust/authenticator.rs"),
                        include_str!("../scaffold/rust/transformer.rs"),
                        include_str!("../scaffold/rust/condition.rs"),
                    )),
                ),
                ("build.sh", fill(include_str!("../scaffold/rust/build.sh"))),
            ]
        }
        "js" => vec![
            ("wit/plugin.wit", WIT.to_string()),
            ("package.json", fill(include_str!("../scaffold/js/package.json"))),
            (
                "component.js",
                fill(pick(
                    include_str!("../scaffold/js/authenticator.js"),
                    include_str!("../scaffold/js/transformer.js"),
                    include_str!("../scaffold/js/condition.js"),
                )),
            ),
            ("build.sh", fill(include_str!("../scaffold/js/build.sh"))),
        ],
        "python" => vec![
            ("wit/plugin.wit", WIT.to_string()),
            (
                "app.py",
                fill(pick(
                    include_str!("../scaffold/python/authenticator.py"),
                    include_str!("../scaffold/python/transformer.py"),
                    include_str!("../scaffold/python/condition.py"),
                )),
            ),
            ("build.sh", fill(include_str!("../scaffold/python/build.sh"))),
        ],
        other => return Err(ScaffoldError::Language(other.to_string())),
    })
}

/// Writes a new project for `world` in `lang` into `dir` (which must be empty or absent).
pub fn write(world_name: &str, lang: &str, dir: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    let world = world(world_name)?;
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ScaffoldError::Io { path, source }
    };
    if dir.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ScaffoldError::NotEmpty(dir.display().to_string()));
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect())
        .filter(|n: &String| !n.is_empty())
        .unwrap_or_else(|| format!("my-{world_name}"));
    let mut written = Vec::new();
    for (relative, contents) in files(world, lang, &name)? {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, contents).map_err(io(&path))?;
        #[cfg(unix)]
        if relative.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(io(&path))?;
        }
        written.push(path);
    }
    Ok(written)
}

pub fn build_command(_lang: &str, dir: &Path) -> String {
    format!("bash {}/build.sh   (the component lands in {}/dist/)", dir.display(), dir.display())
}
