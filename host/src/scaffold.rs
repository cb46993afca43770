//! `hookgate component new`: a component project that builds with one command, for each
//! world and language, with a sample input to run it on. The templates live in `scaffold/`
//! beside this crate's sources.

use std::path::{Path, PathBuf};

use clap::builder::PossibleValue;

use crate::model::World;

/// The languages a component project can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust with the hookgate SDK (cargo, the wasm32-wasip2 target)
    Rust,
    /// JavaScript (componentize-js, installed by npm)
    Js,
    /// Python (componentize-py, installed by pip)
    Python,
}

/// The worlds as `component new` lists and parses them.
impl clap::ValueEnum for World {
    fn value_variants<'a>() -> &'a [Self] {
        &World::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            World::Authenticator => "admits or refuses who fires an event",
            World::Transformer => "shapes the request sent to a target",
            World::Condition => "decides whether a target's response is a success",
        };
        Some(PossibleValue::new(self.as_str()).help(help))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("{0} exists and is not empty")]
    NotEmpty(String),
    #[error("cannot write {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The contract, copied into JS and Python projects (their tools read WIT files).
const WIT: &str = include_str!("../../wit/plugin.wit");
/// The SDK of this checkout, which Rust projects depend on by path.
const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");
/// An input for `component run`, shaped for the project's world.
const SAMPLE_INPUT: &str = "sample-input.json";

/// The files of a project: (relative path, contents).
fn files(world: World, lang: Language, name: &str) -> Vec<(&'static str, String)> {
    let pick = |a: &'static str, t: &'static str, c: &'static str| match world {
        World::Authenticator => a,
        World::Transformer => t,
        World::Condition => c,
    };
    let fill = |text: &str| text.replace("{{name}}", name).replace("{{world}}", world.as_str());
    let sample_input = pick(
        include_str!("../scaffold/sample-input/authenticator.json"),
        include_str!("../scaffold/sample-input/transformer.json"),
        include_str!("../scaffold/sample-input/condition.json"),
    );
    let mut files = match lang {
        Language::Rust => {
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
        Language::Js => vec![
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
        Language::Python => vec![
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
    };
    files.push((SAMPLE_INPUT, sample_input.to_string()));
    files
}

/// A project written by [`write`].
pub struct Project {
    /// The component's name: of the built file, and the one to upload it as.
    pub name: String,
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

impl Project {
    /// What to do next, as commands to paste into a shell: build the component, run it on
    /// the sample input with `hookgate` (the program as it was called), upload it to a
    /// local gateway.
    pub fn next_steps(&self, hookgate: &str) -> [(&'static str, String); 3] {
        let wasm = shell_word(&self.dir.join("dist").join(format!("{}.wasm", self.name)).display().to_string());
        let path = |relative: &str| shell_word(&self.dir.join(relative).display().to_string());
        [
            ("build", format!("bash {}", path("build.sh"))),
            ("run", format!("{} component run {wasm} --input {}", shell_word(hookgate), path(SAMPLE_INPUT))),
            (
                "upload",
                format!(
                    "curl -X PUT --data-binary @{wasm} -H \"Authorization: Bearer $HOOKGATE_ADMIN_TOKEN\" \
                     http://127.0.0.1:8080/v1/admin/components/{}",
                    self.name
                ),
            ),
        ]
    }
}

/// `text` as one shell word: as it is when that is safe, else single-quoted.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:=@%,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Writes a new project for `world` in `lang` into `dir` (which must be empty or absent).
pub fn write(world: World, lang: Language, dir: &Path) -> Result<Project, ScaffoldError> {
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
        .unwrap_or_else(|| format!("my-{world}"));
    let mut written = Vec::new();
    for (relative, contents) in files(world, lang, &name) {
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
    Ok(Project { name, dir: dir.to_path_buf(), files: written })
}
