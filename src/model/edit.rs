//! Changing the `apps:` list of a node.yaml as text, so that the operator's comments and
//! layout survive: an item appended at the end of the list, or one item's lines taken out.
//! The caller validates the result before writing it.

/// Where the `apps:` list is: the line of `apps:` and the lines of each item.
struct AppsBlock {
    key_line: usize,
    /// `[start, end)` line ranges, one per item.
    items: Vec<(usize, usize)>,
    /// The indentation of `-` in the list (two spaces when empty).
    indent: usize,
    empty_flow: bool,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn find(lines: &[&str]) -> Option<AppsBlock> {
    let key_line = lines
        .iter()
        .position(|l| l.starts_with("apps:") && indent_of(l) == 0)?;
    let rest = lines[key_line]["apps:".len()..].trim();
    let rest = rest.split(" #").next().unwrap_or("").trim();
    if rest == "[]" {
        return Some(AppsBlock {
            key_line,
            items: vec![],
            indent: 2,
            empty_flow: true,
        });
    }
    if !rest.is_empty() {
        return None; // a flow list: not edited as text
    }
    let mut items: Vec<(usize, usize)> = vec![];
    let mut indent = None;
    let mut last_content = key_line;
    for (i, line) in lines.iter().enumerate().skip(key_line + 1) {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let ind = indent_of(line);
        if ind == 0 && !t.starts_with('-') {
            break; // the next top-level key
        }
        if t.starts_with("- ") || t == "-" {
            let item_indent = *indent.get_or_insert(ind);
            if ind == item_indent {
                if let Some(last) = items.last_mut() {
                    last.1 = last_content + 1;
                }
                items.push((i, i + 1));
            }
        }
        last_content = i;
    }
    if let Some(last) = items.last_mut() {
        last.1 = last_content + 1;
    }
    Some(AppsBlock {
        key_line,
        items,
        indent: indent.unwrap_or(2),
        empty_flow: false,
    })
}

fn join(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// `text` with `item` (a one-line flow mapping: `{ recipe: x, host: y }`) appended to `apps:`
/// (which is created when absent).
pub fn add_app(text: &str, item: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    match find(&lines) {
        None if lines.iter().any(|l| l.starts_with("apps:")) => Err(
            "`apps:` is written as a flow list ([…]); write it as a block list (one `- ` per line) to edit it with this command".into(),
        ),
        None => {
            out.push("apps:".into());
            out.push(format!("  - {item}"));
            Ok(join(&out))
        }
        Some(b) => {
            let line = format!("{}- {item}", " ".repeat(b.indent));
            if b.empty_flow {
                out[b.key_line] = "apps:".into();
                out.insert(b.key_line + 1, line);
            } else {
                let at = b.items.last().map(|i| i.1).unwrap_or(b.key_line + 1);
                out.insert(at, line);
            }
            Ok(join(&out))
        }
    }
}

/// `text` without the `index`-th item of `apps:` (counting the items written in the file).
pub fn remove_app(text: &str, index: usize) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let b = find(&lines).ok_or("node.yaml has no `apps:` block list to remove an app from")?;
    let (start, end) = *b
        .items
        .get(index)
        .ok_or_else(|| format!("node.yaml's `apps:` has no item {index}"))?;
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out.drain(start..end);
    if b.items.len() == 1 {
        out[b.key_line] = "apps: []".into();
    }
    Ok(join(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = "domain: x.coop\n# the apps\napps:\n  - recipe: hello\n    host: www\n    # greeting\n    settings: { greeting: Hi }\n\n  - { recipe: dokuwiki, host: wiki }\nbackup: {}\n";

    #[test]
    fn appends_after_the_last_item_and_keeps_comments() {
        let out = add_app(
            NODE,
            "{ recipe: dokuwiki, host: wiki.fki, collective: fki }",
        )
        .unwrap();
        assert!(out.contains("  - { recipe: dokuwiki, host: wiki }\n  - { recipe: dokuwiki, host: wiki.fki, collective: fki }\nbackup: {}\n"), "{out}");
        assert!(out.contains("# the apps") && out.contains("# greeting"));
    }

    #[test]
    fn removes_one_item_with_its_lines() {
        let out = remove_app(NODE, 0).unwrap();
        assert_eq!(out, "domain: x.coop\n# the apps\napps:\n\n  - { recipe: dokuwiki, host: wiki }\nbackup: {}\n");
        let out = remove_app(NODE, 1).unwrap();
        assert!(
            out.contains("settings: { greeting: Hi }\n\nbackup"),
            "{out}"
        );
        assert!(!out.contains("dokuwiki"));
        let last = remove_app(&out, 0).unwrap();
        assert!(last.contains("apps: []\n"), "{last}");
    }

    #[test]
    fn empty_and_missing_lists() {
        let out = add_app("domain: x\napps: []\n", "{ recipe: a, host: b }").unwrap();
        assert_eq!(out, "domain: x\napps:\n  - { recipe: a, host: b }\n");
        let out = add_app("domain: x\n", "{ recipe: a, host: b }").unwrap();
        assert_eq!(out, "domain: x\napps:\n  - { recipe: a, host: b }\n");
        assert!(add_app("apps: [{ recipe: a, host: b }]\n", "{}").is_err());
        let top = add_app(
            "apps:\n- { recipe: a, host: b }\nx: 1\n",
            "{ recipe: c, host: d }",
        )
        .unwrap();
        assert_eq!(
            top,
            "apps:\n- { recipe: a, host: b }\n- { recipe: c, host: d }\nx: 1\n"
        );
    }
}
