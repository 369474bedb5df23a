//! The code blocks of the guide pages are the example sources, so they cannot drift.
//!
//! A page marks a fenced block with the source region it shows:
//!
//! ```text
//! <!-- include: examples/src/cache_reads.rs#build_runtime -->
//! ```rust
//! ...
//! ```
//! ```
//!
//! and the source marks the region with `// ANCHOR: build_runtime` / `// ANCHOR_END:
//! build_runtime` lines (mdBook's syntax; nested markers are dropped, the region is dedented).
//! This test fails when a block differs from its region; `just docs-sync`
//! (`FORZE_BLESS_DOCS=1`) rewrites the pages from the sources instead.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The pages whose blocks are included from sources, relative to the workspace root, and how
/// many include markers each has at least (a page that lost its markers is caught).
const PAGES: &[(&str, usize)] = &[
    ("docs/recipes/cache-reads.md", 3),
    ("docs/recipes/querying.md", 3),
    ("README.md", 1),
];

const BLESS_VAR: &str = "FORZE_BLESS_DOCS";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

const MARKER_START: &str = "<!-- include:";
const MARKER_END: &str = "-->";

/// One `<!-- include: path#name -->` and the fenced block after it.
#[derive(Debug)]
struct Include {
    /// 1-based line of the marker.
    line: usize,
    path: String,
    name: String,
    /// The lines of the block body: `body.0..body.1` (0-based, exclusive end).
    body: (usize, usize),
}

/// The includes of a page, or what is malformed.
fn parse_page(page: &str) -> Result<Vec<Include>, String> {
    let lines: Vec<&str> = page.lines().collect();
    let mut includes = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let Some(rest) = line.strip_prefix(MARKER_START) else {
            i += 1;
            continue;
        };
        let at = i + 1;
        let spec = rest
            .strip_suffix(MARKER_END)
            .ok_or_else(|| format!("line {at}: an include marker must end with `-->` on its line"))?
            .trim();
        let (path, name) = spec
            .split_once('#')
            .filter(|(p, n)| !p.is_empty() && !n.is_empty())
            .ok_or_else(|| {
                format!(
                    "line {at}: expected `<!-- include: path/to/file.rs#region -->`, found `{line}`"
                )
            })?;
        let fence = lines.get(i + 1).map(|l| l.trim_end()).unwrap_or_default();
        if !fence.starts_with("```") {
            return Err(format!(
                "line {at}: the include marker must be followed by a fenced code block (```rust), found `{fence}`"
            ));
        }
        let start = i + 2;
        let end = (start..lines.len())
            .find(|&j| lines[j].trim_end() == "```")
            .ok_or_else(|| format!("line {at}: the code block after the marker is not closed"))?;
        includes.push(Include {
            line: at,
            path: path.trim().to_owned(),
            name: name.trim().to_owned(),
            body: (start, end),
        });
        i = end + 1;
    }
    Ok(includes)
}

fn is_marker(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("// ANCHOR:") || t.starts_with("// ANCHOR_END:")
}

/// The region `name` of `source`: the lines between its markers, other markers dropped,
/// dedented by their common indentation.
fn region(source: &str, name: &str) -> Result<String, String> {
    let start_marker = format!("// ANCHOR: {name}");
    let end_marker = format!("// ANCHOR_END: {name}");
    let lines: Vec<&str> = source.lines().collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim() == start_marker)
        .collect();
    let start = match starts.as_slice() {
        [one] => *one,
        [] => return Err(format!("no `{start_marker}` line")),
        _ => return Err(format!("`{start_marker}` appears {} times", starts.len())),
    };
    let end = (start + 1..lines.len())
        .find(|&i| lines[i].trim() == end_marker)
        .ok_or_else(|| format!("no `{end_marker}` line after `{start_marker}`"))?;
    let body: Vec<&str> = lines[start + 1..end]
        .iter()
        .copied()
        .filter(|l| !is_marker(l))
        .collect();
    if body.iter().all(|l| l.trim().is_empty()) {
        return Err(format!("region `{name}` is empty"));
    }
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for l in body {
        let l = if l.trim().is_empty() {
            ""
        } else {
            &l[indent..]
        };
        out.push_str(l.trim_end());
        out.push('\n');
    }
    Ok(out)
}

/// Check `page` against the sources under `root`; with `bless`, return the page with every
/// block replaced by its region. `Err` lists every problem.
fn sync_page(root: &Path, page: &str, bless: bool) -> Result<(String, usize), Vec<String>> {
    let includes = parse_page(page).map_err(|e| vec![e])?;
    let lines: Vec<&str> = page.lines().collect();
    let mut problems = Vec::new();
    let mut out = String::new();
    let mut copied = 0;
    for inc in &includes {
        let source = match std::fs::read_to_string(root.join(&inc.path)) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!(
                    "line {}: cannot read `{}`: {e}",
                    inc.line, inc.path
                ));
                continue;
            }
        };
        let wanted = match region(&source, &inc.name) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!(
                    "line {}: `{}#{}`: {e}",
                    inc.line, inc.path, inc.name
                ));
                continue;
            }
        };
        let mut found = String::new();
        for l in &lines[inc.body.0..inc.body.1] {
            found.push_str(l);
            found.push('\n');
        }
        if found != wanted && !bless {
            problems.push(format!(
                "line {}: the block differs from `{}#{}`:\n{}",
                inc.line,
                inc.path,
                inc.name,
                first_difference(&found, &wanted)
            ));
        }
        for l in &lines[copied..inc.body.0] {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str(&wanted);
        copied = inc.body.1;
    }
    for l in &lines[copied..] {
        out.push_str(l);
        out.push('\n');
    }
    if problems.is_empty() {
        Ok((out, includes.len()))
    } else {
        Err(problems)
    }
}

fn first_difference(found: &str, wanted: &str) -> String {
    let (f, w): (Vec<&str>, Vec<&str>) = (found.lines().collect(), wanted.lines().collect());
    let i = (0..f.len().max(w.len()))
        .find(|&i| f.get(i) != w.get(i))
        .unwrap_or(0);
    let mut s = String::new();
    let _ = writeln!(s, "  block line {}:", i + 1);
    let _ = writeln!(
        s,
        "    page:   {:?}",
        f.get(i).copied().unwrap_or("<end of block>")
    );
    let _ = write!(
        s,
        "    source: {:?}",
        w.get(i).copied().unwrap_or("<end of region>")
    );
    s
}

#[test]
fn guide_blocks_match_the_example_sources() {
    let root = root();
    let bless = std::env::var(BLESS_VAR).is_ok_and(|v| v == "1");
    let mut problems = Vec::new();
    for &(page, min) in PAGES {
        let path = root.join(page);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        match sync_page(&root, &text, bless) {
            Ok((synced, count)) => {
                assert!(
                    count >= min,
                    "{page}: expected at least {min} code blocks included from sources, found {count} include markers"
                );
                if bless && synced != text {
                    std::fs::write(&path, synced)
                        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
                    eprintln!("{BLESS_VAR}=1: rewrote {page} from the sources");
                }
            }
            Err(list) => problems.extend(list.into_iter().map(|p| format!("{page}: {p}"))),
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\nUpdate the page from the sources with `just docs-sync` (sets {BLESS_VAR}=1), then review `git diff`.",
        problems.join("\n")
    );
}

// The checker itself: it must see drift, and blessing must fix exactly the blocks.

const SOURCE: &str = "\
fn outside() {}

// ANCHOR: demo
pub fn demo() {
    // ANCHOR: inner
    let x = 1;

    // ANCHOR_END: inner
    let _ = x;
}
// ANCHOR_END: demo
";

fn fixture(block: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!(
        "forze-docs-sync-{}-{}",
        std::process::id(),
        block.len()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("src.rs"), SOURCE).expect("write source");
    let page = format!(
        "# Title\n\ntext\n<!-- include: src.rs#inner -->\n```rust\n{block}```\n\nmore text\n"
    );
    (dir, page)
}

#[test]
fn regions_drop_nested_markers_and_dedent() {
    assert_eq!(
        region(SOURCE, "demo").unwrap(),
        "pub fn demo() {\n    let x = 1;\n\n    let _ = x;\n}\n"
    );
    assert_eq!(region(SOURCE, "inner").unwrap(), "let x = 1;\n\n");
    assert!(
        region(SOURCE, "missing")
            .unwrap_err()
            .contains("no `// ANCHOR: missing`")
    );
}

#[test]
fn a_drifted_block_is_reported_and_blessing_fixes_it() {
    let (dir, page) = fixture("let x = 2;\n\n");
    let problems = sync_page(&dir, &page, false).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("src.rs#inner"), "{}", problems[0]);
    assert!(problems[0].contains("let x = 2;"), "{}", problems[0]);

    let (blessed, count) = sync_page(&dir, &page, true).unwrap();
    assert_eq!(count, 1);
    assert_eq!(
        blessed,
        "# Title\n\ntext\n<!-- include: src.rs#inner -->\n```rust\nlet x = 1;\n\n```\n\nmore text\n"
    );
    let (again, _) = sync_page(&dir, &blessed, false).expect("in sync after blessing");
    assert_eq!(again, blessed);
    std::fs::remove_dir_all(dir).expect("clean up");
}

#[test]
fn malformed_markers_are_errors() {
    let no_fence = "<!-- include: src.rs#inner -->\ntext\n";
    assert!(
        parse_page(no_fence)
            .unwrap_err()
            .contains("fenced code block")
    );
    let no_region = "<!-- include: src.rs -->\n```rust\n```\n";
    assert!(
        parse_page(no_region)
            .unwrap_err()
            .contains("path/to/file.rs#region")
    );
    let unclosed = "<!-- include: src.rs#inner -->\n```rust\nlet x = 1;\n";
    assert!(parse_page(unclosed).unwrap_err().contains("not closed"));
    let (dir, _) = fixture("x\n");
    let missing = "<!-- include: src.rs#nope -->\n```rust\n```\n";
    let problems = sync_page(&dir, missing, true).unwrap_err();
    assert!(problems[0].contains("no `// ANCHOR: nope`"), "{problems:?}");
    std::fs::remove_dir_all(dir).expect("clean up");
}
