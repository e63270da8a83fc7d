//! The README's walkthrough runs as written: its shell blocks are extracted
//! and run by bash, one command at a time in one shell, with the built
//! binary in place of `target/release/chronicle`, starting from the
//! repository root (the walkthrough copies the fixtures into a fresh folder
//! under the test's own temp dir). A comment line `#   exit N: name count,
//! ...` after a command states its exit code (0 when there is none) and
//! counts that its output must show, as `name count` or `count name`.

mod common;

use std::path::Path;
use std::process::Command;

const SECTION: &str = "## A five-minute walkthrough";
const RELEASE_BIN: &str = "$PWD/target/release/chronicle";

/// One command of the walkthrough and what its comments promise.
#[derive(Debug)]
struct Step {
    command: String,
    exit: i32,
    counts: Vec<String>,
}

/// The shell blocks of the walkthrough section.
fn walkthrough_blocks(readme: &str) -> Vec<String> {
    let start = readme.find(SECTION).expect("the walkthrough section");
    let rest = &readme[start + SECTION.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "```sh" {
            let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            blocks.push(block.join("\n"));
        }
    }
    blocks
}

fn steps(block: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut continued = false;
    for line in block.lines() {
        let trimmed = line.trim();
        if let Some(after) = line.strip_prefix("#   exit ") {
            let step = steps.last_mut().expect("an expectation follows a command");
            let (code, rest) = after.split_once(':').unwrap_or((after, ""));
            step.exit = code.trim().parse().expect("exit code");
            step.counts.extend(
                rest.split(',')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if continued {
            let last = steps.last_mut().expect("a continued command");
            last.command.push('\n');
            last.command.push_str(line);
        } else {
            steps.push(Step {
                command: line.to_string(),
                exit: 0,
                counts: Vec::new(),
            });
        }
        continued = trimmed.ends_with('\\');
    }
    steps
}

/// Whether `output` shows `words` next to the number `n` (either order).
fn shows(output: &str, expectation: &str) -> bool {
    let (words, n) = match expectation.split_once(' ') {
        Some((first, rest)) if first.chars().all(|c| c.is_ascii_digit() || c == ',') => {
            (rest.trim(), first)
        }
        _ => {
            let (words, n) = expectation.rsplit_once(' ').expect("`name count`");
            (words.trim(), n)
        }
    };
    let n: String = n.chars().filter(|c| *c != ',').collect();
    let number_at = |digits: &str| -> bool {
        let d: String = digits.chars().filter(|c| *c != ',').collect();
        d == n
    };
    for (i, _) in output.match_indices(words) {
        let before = &output[..i];
        if before
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric())
        {
            continue;
        }
        let after = &output[i + words.len()..];
        let forward: String = after
            .trim_start_matches(|c: char| !c.is_alphanumeric())
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',')
            .collect();
        if number_at(&forward) {
            return true;
        }
        let back: String = before
            .trim_end()
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || *c == ',')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if number_at(&back) {
            return true;
        }
    }
    false
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = walkthrough_blocks(&readme);
    assert!(!blocks.is_empty());
    let all: Vec<Step> = blocks.iter().flat_map(|b| steps(b)).collect();
    assert!(
        all.iter().any(|s| s.command.contains(RELEASE_BIN)),
        "the walkthrough's alias must name {RELEASE_BIN}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // MongoDB: a fresh database on the test server, else those steps are skipped.
    let mongo = common::mongodb_uri().map(|uri| {
        format!(
            "{}/chronicle_test_readme_{}",
            uri.trim_end_matches('/'),
            uuid::Uuid::new_v4().simple()
        )
    });
    let mut script = String::from("shopt -s expand_aliases\n");
    let mut ran = Vec::new();
    for (i, step) in all.iter().enumerate() {
        if mongo.is_none() && step.command.contains("LEDGER_URI") {
            continue;
        }
        let command = step.command.replace(RELEASE_BIN, common::bin());
        // cd and alias change the shell itself, so they are not wrapped.
        if command.starts_with("alias ") || command.contains("cd ") {
            script.push_str(&format!(
                "{command}\necho $? > {out}/{i}.code\n",
                out = out.display()
            ));
        } else {
            script.push_str(&format!(
                "{{\n{command}\n}} > {out}/{i}.out 2> {out}/{i}.err\necho $? > {out}/{i}.code\n",
                out = out.display()
            ));
        }
        ran.push(i);
    }
    let script_path = tmp.path().join("walkthrough.sh");
    std::fs::write(&script_path, &script).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(&script_path)
        .current_dir(root)
        .env("TMPDIR", tmp.path())
        .env_remove("CHRONICLE_STORE")
        .env_remove("CHRONICLE_CONFIG");
    match &mongo {
        Some(uri) => cmd.env("LEDGER_URI", uri),
        None => cmd.env_remove("LEDGER_URI"),
    };
    let status = cmd.status().expect("bash");
    assert!(status.success() || status.code().is_some(), "{status:?}");
    for i in ran {
        let step = &all[i];
        let read =
            |ext: &str| std::fs::read_to_string(out.join(format!("{i}.{ext}"))).unwrap_or_default();
        let code: i32 = read("code")
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("step `{}` did not run", step.command));
        let output = format!("{}{}", read("out"), read("err"));
        assert_eq!(
            code, step.exit,
            "`{}` exited with {code}:\n{output}",
            step.command
        );
        for expectation in &step.counts {
            assert!(
                shows(&output, expectation),
                "`{}` does not show `{expectation}`:\n{output}",
                step.command
            );
        }
    }
}

#[test]
fn expectations_match_either_order() {
    assert!(shows("read        14\nimported     7", "read 14"));
    assert!(shows("{\"imported\":0,\"read\":14}", "imported 0"));
    assert!(shows("  12 rows written to x", "12 rows written"));
    assert!(shows("would import    1,234", "would import 1,234"));
    assert!(!shows("already archived 0", "read 0"));
    assert!(!shows("read 140", "read 14"));
}
