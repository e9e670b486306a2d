//! Every document a user needs is in the repository: no Markdown file,
//! script or test names a path outside it, and every relative link in a
//! Markdown file leads to a file that exists.

mod common;

use std::path::{Path, PathBuf};

/// Files of the repository worth reading (sources, scripts, docs), without
/// build output and the guest harness's kernel cache.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" || name == "results" {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else if ["md", "sh", "rs", "toml", "py"]
            .iter()
            .any(|ext| name.ends_with(&format!(".{ext}")))
        {
            out.push(path);
        }
    }
}

fn repo_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    files(&common::repo(), &mut out);
    out
}

#[test]
fn nothing_points_outside_the_repository() {
    let this = file!().rsplit('/').next().unwrap();
    let mut bad = Vec::new();
    for path in repo_files() {
        if path.ends_with(this) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            if ["../shared", "/work/shared", "shared/notes", "shared/DESIGN"]
                .iter()
                .any(|p| line.contains(p))
            {
                bad.push(format!("{}:{}: {line}", path.display(), i + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "outside the repository:\n{}",
        bad.join("\n")
    );
}

#[test]
fn relative_links_in_the_docs_lead_to_files() {
    let mut bad = Vec::new();
    for path in repo_files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in text.lines().enumerate() {
            for target in line
                .split("](")
                .skip(1)
                .filter_map(|rest| rest.split(')').next())
            {
                let target = target.split('#').next().unwrap_or_default().trim();
                if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let resolved = path.parent().unwrap().join(target);
                if !resolved.exists() {
                    bad.push(format!("{}:{}: {target}", path.display(), i + 1));
                } else if !resolved
                    .canonicalize()
                    .is_ok_and(|r| r.starts_with(common::repo().canonicalize().unwrap()))
                {
                    bad.push(format!("{}:{}: {target} (outside)", path.display(), i + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "broken links:\n{}", bad.join("\n"));
}
