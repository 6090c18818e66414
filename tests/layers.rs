//! The library's layers: no import cycle inside it, and the crate root's layout block names every module
//! in an order the imports respect.
//!
//! Import cycles: every `src/**/*.rs` file is a module, every path it names inside
//! the crate (`use crate::..`, `super::..`, `self::..`, a child module's name, in `use` trees and in code)
//! is an edge to the module that defines the named item (re-exports followed), and a cycle between
//! modules fails the test, printed edge by edge with the line that makes it. A parent's `pub use` of
//! what its children define is their facade and no edge; a parent that defines what its children import
//! while it calls into them is a cycle.
//!
//! Layer order inside the service: its folders and leaf files are ranked bottom up (`SERVICE_LAYERS`), and
//! a module importing one of a higher layer fails the test, printed edge by edge with the line.
//!
//! A small parser of our own, not `syn`: comments, strings and `#[cfg(test)]` items are blanked, the rest
//! is split into identifiers and punctuation, which is all a path needs. Test-only code may look
//! anywhere; product code may only look down.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    fs,
    path::{Path, PathBuf},
};

/// Module path (`crate::service::jobs`) of each file under `src/`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    let mut module = String::from("crate");
    for part in parts {
        module.push_str("::");
        module.push_str(&part);
    }
    module
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source with comments, string and char literals replaced by spaces (newlines kept for line numbers).
fn blank_comments_and_strings(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if b[i] == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && !ident_byte_before(b, i)
        {
            // Raw string: r"..", r#".."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(b[i]);
                i += 1;
                continue;
            }
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            j += 1;
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            let end = (j + close.len()).min(b.len());
            for &c in &b[i..end] {
                blank(&mut out, c);
            }
            i = end;
        } else if b[i] == b'"' {
            blank(&mut out, b[i]);
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            if i < b.len() {
                out.push(b' ');
                i += 1;
            }
        } else if b[i] == b'\'' {
            // A char literal ('a', '\n', '\u{..}') or a lifetime ('a): only the literal is blanked.
            let rest = &b[i + 1..];
            let len = if rest.first() == Some(&b'\\') {
                rest.iter().skip(1).position(|&c| c == b'\'').map(|p| p + 2)
            } else if rest.len() >= 2 && rest[1] == b'\'' {
                Some(1)
            } else {
                std::str::from_utf8(rest)
                    .ok()
                    .and_then(|s| s.chars().next())
                    .filter(|c| !c.is_ascii() && rest.get(c.len_utf8()) == Some(&b'\''))
                    .map(|c| c.len_utf8())
            };
            match len {
                Some(n) => {
                    out.extend(std::iter::repeat_n(b' ', n + 2));
                    i += n + 2;
                }
                None => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ident_byte_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    line: usize,
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut line = 1;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let text = text.trim_start_matches('$').to_string();
            let text = text.strip_prefix("r#").unwrap_or(&text).to_string();
            tokens.push(Token { text, line });
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push(Token {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            tokens.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    tokens
}

/// Drops every item under `#[cfg(test)]` (a test module, a test-only function or import).
fn drop_test_items(tokens: Vec<Token>) -> Vec<Token> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let is_cfg_test = tokens[i].text == "#"
            && tokens.get(i + 1).is_some_and(|t| t.text == "[")
            && tokens.get(i + 2).is_some_and(|t| t.text == "cfg")
            && tokens.get(i + 3).is_some_and(|t| t.text == "(")
            && tokens.get(i + 4).is_some_and(|t| t.text == "test")
            && tokens.get(i + 5).is_some_and(|t| t.text == ")");
        if !is_cfg_test {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        }
        // Skip to the end of the item: its first `;` at depth 0, or its balanced `{ .. }`.
        i += 7;
        let mut depth = 0usize;
        while i < tokens.len() {
            match tokens[i].text.as_str() {
                "{" => depth += 1,
                "}" => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                ";" if depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    out
}

/// One parsed file: the modules it declares, the names its `use` items bind, and the paths it names.
#[derive(Default)]
struct Parsed {
    children: BTreeSet<String>,
    /// name -> path it stands for (absolute once resolved); globs are not recorded here.
    imports: BTreeMap<String, Vec<String>>,
    /// Every path that starts inside the crate, as written, with its line and whether a `pub use`
    /// re-exports it.
    paths: Vec<(Vec<String>, usize, bool)>,
}

fn is_ident(t: &str) -> bool {
    t.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Parses a `use` tree starting at `tokens[*i]`, appending (path, bound name) pairs; stops after `;`.
fn parse_use_tree(tokens: &[Token], i: &mut usize, prefix: Vec<String>, out: &mut Vec<(Vec<String>, Option<String>)>) {
    let mut path = prefix;
    loop {
        let Some(t) = tokens.get(*i) else { return };
        match t.text.as_str() {
            "::" => *i += 1,
            "{" => {
                *i += 1;
                loop {
                    parse_use_tree(tokens, i, path.clone(), out);
                    match tokens.get(*i).map(|t| t.text.as_str()) {
                        Some(",") => *i += 1,
                        Some("}") => {
                            *i += 1;
                            return;
                        }
                        _ => return,
                    }
                    if tokens.get(*i).is_some_and(|t| t.text == "}") {
                        *i += 1;
                        return;
                    }
                }
            }
            "*" => {
                *i += 1;
                out.push((path.clone(), None));
                return;
            }
            "as" => {
                *i += 1;
                let alias = tokens.get(*i).map(|t| t.text.clone());
                *i += 1;
                out.push((path.clone(), alias));
                return;
            }
            "," | "}" | ";" => {
                if let Some(last) = path.last().cloned() {
                    let name = if last == "self" {
                        path.pop();
                        path.last().cloned()
                    } else {
                        Some(last)
                    };
                    out.push((path.clone(), name));
                }
                return;
            }
            text if is_ident(text) => {
                path.push(text.to_string());
                *i += 1;
            }
            _ => {
                *i += 1;
            }
        }
    }
}

/// Whether the `use` at `tokens[at]` is `pub`, `pub(crate)`, `pub(super)` or `pub(in ..)`.
fn is_public(tokens: &[Token], at: usize) -> bool {
    let before = |n: usize| at.checked_sub(n).and_then(|k| tokens.get(k)).map(|t| t.text.as_str());
    if before(1) == Some("pub") {
        return true;
    }
    // `pub ( crate ) use`, `pub ( in a :: b ) use`: walk back over the parenthesis.
    if before(1) == Some(")") {
        let mut k = at - 1;
        while k > 0 && tokens[k].text != "(" {
            k -= 1;
        }
        return k > 0 && tokens[k - 1].text == "pub";
    }
    false
}

fn parse(tokens: &[Token]) -> Parsed {
    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i].text;
        if t == "mod" && tokens.get(i + 1).is_some_and(|t| is_ident(&t.text)) {
            parsed.children.insert(tokens[i + 1].text.clone());
            i += 2;
        } else if t == "use" && tokens.get(i + 1).is_some_and(|n| n.text != "<") {
            let line = tokens[i].line;
            let reexport = is_public(tokens, i);
            i += 1;
            let mut uses = Vec::new();
            while i < tokens.len() && tokens[i].text != ";" {
                let before = i;
                parse_use_tree(tokens, &mut i, Vec::new(), &mut uses);
                if i == before {
                    i += 1;
                }
                if tokens.get(i).is_some_and(|t| t.text == ",") {
                    i += 1;
                }
            }
            for (path, name) in uses {
                if path.is_empty() {
                    continue;
                }
                if let Some(name) = name
                    && name != "_"
                {
                    parsed.imports.insert(name, path.clone());
                }
                parsed.paths.push((path, line, reexport));
            }
        } else if is_ident(t) && tokens.get(i + 1).is_some_and(|n| n.text == "::") {
            // A path in code: `crate::a::b`, `super::x`, `child::f`, `Imported::new` (resolved later).
            let line = tokens[i].line;
            let preceded_by_colons = i > 0 && tokens[i - 1].text == "::";
            // `pub(in crate::service)` names where an item is visible, not something it uses.
            let visibility = i > 1 && tokens[i - 1].text == "in" && tokens[i - 2].text == "(";
            let mut path = vec![t.clone()];
            let mut j = i + 1;
            while tokens.get(j).is_some_and(|c| c.text == "::") && tokens.get(j + 1).is_some_and(|n| is_ident(&n.text))
            {
                path.push(tokens[j + 1].text.clone());
                j += 2;
            }
            if !preceded_by_colons && !visibility {
                parsed.paths.push((path, line, false));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    parsed
}

struct Crate {
    modules: BTreeMap<String, (PathBuf, Parsed)>,
}

impl Crate {
    fn load(src: &Path) -> Crate {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let mut modules = BTreeMap::new();
        for file in files {
            let text = fs::read_to_string(&file).expect("readable source");
            let tokens = drop_test_items(tokenize(&blank_comments_and_strings(&text)));
            modules.insert(module_of(src, &file), (file, parse(&tokens)));
        }
        Crate { modules }
    }

    fn is_module(&self, path: &str) -> bool {
        self.modules.contains_key(path)
    }

    /// The absolute path a path written in `module` stands for, or `None` when it leaves the crate.
    fn absolute(&self, module: &str, path: &[String], depth: usize) -> Option<Vec<String>> {
        let first = path.first()?;
        let mut base: Vec<String> = module.split("::").map(str::to_string).collect();
        let mut rest = path;
        match first.as_str() {
            "crate" => {
                base = vec!["crate".into()];
                rest = &path[1..];
            }
            "self" => rest = &path[1..],
            "super" => {
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
            }
            name => {
                let parsed = &self.modules.get(module)?.1;
                if parsed.children.contains(name) {
                    // `child::..` in the module that declares it.
                } else if let Some(target) = parsed.imports.get(name) {
                    if depth > 8 || target.first() == Some(&name.to_string()) {
                        return None;
                    }
                    let mut full = self.absolute(module, target, depth + 1)?;
                    full.extend(path[1..].iter().cloned());
                    return Some(full);
                } else {
                    return None;
                }
            }
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The module that defines what the absolute `path` names, following re-exports.
    fn defining_module(&self, path: &[String], depth: usize) -> Option<String> {
        let mut longest = None;
        for n in (1..=path.len()).rev() {
            let candidate = path[..n].join("::");
            if self.is_module(&candidate) {
                longest = Some(n);
                break;
            }
        }
        let n = longest?;
        let module = path[..n].join("::");
        if let Some(item) = path.get(n)
            && depth < 8
            && let Some(target) = self.modules[&module].1.imports.get(item)
            && let Some(mut full) = self.absolute(&module, target, depth + 1)
        {
            full.extend(path[n + 1..].iter().cloned());
            if let Some(definer) = self.defining_module(&full, depth + 1) {
                return Some(definer);
            }
        }
        Some(module)
    }

    /// module -> (module it depends on -> first line that makes the edge).
    fn edges(&self) -> BTreeMap<String, BTreeMap<String, usize>> {
        let mut edges: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for (module, (_, parsed)) in &self.modules {
            let entry = edges.entry(module.clone()).or_default();
            for (path, line, reexport) in &parsed.paths {
                let Some(absolute) = self.absolute(module, path, 0) else {
                    continue;
                };
                let Some(target) = self.defining_module(&absolute, 0) else {
                    continue;
                };
                // A parent re-exporting what its children define is their facade, not a dependency:
                // a child naming it through the parent is followed to the definer instead.
                let below = target.starts_with(&format!("{module}::"));
                if *reexport && below {
                    continue;
                }
                if &target != module {
                    entry.entry(target).or_insert(*line);
                }
            }
        }
        edges
    }
}

/// Strongly connected components with more than one module (Tarjan's algorithm).
fn cycles(edges: &BTreeMap<String, BTreeMap<String, usize>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeMap<String, usize>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(targets) = s.edges.get(v) {
            for w in targets.keys() {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let low = s.low[v].min(s.low[w]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w) {
                    let low = s.low[v].min(s.index[w]);
                    s.low.insert(v, low);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

/// The shortest cycle through `start` inside its component, for the message.
fn shortest_cycle(
    edges: &BTreeMap<String, BTreeMap<String, usize>>,
    component: &BTreeSet<&str>,
    start: &str,
) -> Vec<String> {
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for w in edges[v].keys() {
            let w = w.as_str();
            if !component.contains(w) {
                continue;
            }
            if w == start {
                let mut cycle = vec![start.to_string()];
                let mut at = v;
                while at != start {
                    cycle.push(at.to_string());
                    at = previous[at];
                }
                cycle.push(start.to_string());
                cycle.reverse();
                return cycle;
            }
            if !previous.contains_key(w) {
                previous.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    Vec::new()
}

fn report(krate: &Crate) -> (usize, String) {
    let edges = krate.edges();
    let found = cycles(&edges);
    let mut message = String::new();
    for component in &found {
        let members: BTreeSet<&str> = component.iter().map(String::as_str).collect();
        message.push_str(&format!(
            "cycle among {} modules: {}\n",
            component.len(),
            component.join(", ")
        ));
        let cycle = shortest_cycle(&edges, &members, &component[0]);
        for pair in cycle.windows(2) {
            let line = edges[&pair[0]][&pair[1]];
            let file = krate.modules[&pair[0]].0.display();
            message.push_str(&format!("  {} -> {}   ({file}:{line})\n", pair[0], pair[1]));
        }
    }
    (found.len(), message)
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Cycles that predate this check and are still to be broken, each named by its first module in
/// sorted order; the list only shrinks.
const KNOWN_CYCLES: &[&str] = &[];

#[test]
fn the_library_has_no_import_cycle() {
    let krate = Crate::load(&src_dir());
    let edges = krate.edges();
    let found = cycles(&edges);
    let (count, message) = report(&krate);
    println!("{count} import cycle(s) inside the library:\n{message}");
    let new: Vec<&String> = found
        .iter()
        .map(|component| &component[0])
        .filter(|first| !KNOWN_CYCLES.contains(&first.as_str()))
        .collect();
    assert!(new.is_empty(), "new import cycle(s) through {new:?}:\n{message}");
    let gone: Vec<&&str> = KNOWN_CYCLES
        .iter()
        .filter(|known| !found.iter().any(|component| component[0] == **known))
        .collect();
    assert!(
        gone.is_empty(),
        "cycle(s) through {gone:?} are gone: take them off KNOWN_CYCLES"
    );
}

/// Writes `text` to `path` below `src`, creating its folders: the self-tests' temporary crates.
fn write_source(src: &Path, path: &str, text: &str) {
    let path = src.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// The checker itself: it sees a cycle through a parent's re-export, a `super::` path, a path in code
/// and a child module's name, and it does not see one through test-only code or a comment.
#[test]
fn the_checker_finds_cycles_and_only_cycles() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let src = dir.path();
    let write = |path: &str, text: &str| write_source(src, path, text);
    write("lib.rs", "pub mod a;\npub mod b;\n");
    write("a/mod.rs", "mod inner;\npub use inner::Thing;\npub struct Root;\n");
    write("a/inner.rs", "pub struct Thing;\n// use crate::b::Other;\n");
    write(
        "b.rs",
        "use crate::a::Thing;\npub struct Other;\n#[cfg(test)]\nmod tests { use crate::a::Root; }\n",
    );
    let krate = Crate::load(src);
    let edges = krate.edges();
    assert_eq!(report(&krate).0, 0, "no cycle yet: {}", report(&krate).1);
    // The re-export is followed to the module that defines `Thing`.
    assert!(edges["crate::b"].contains_key("crate::a::inner"), "{edges:?}");
    assert!(!edges["crate::b"].contains_key("crate::a"), "{edges:?}");

    // inner -> b (a path in code) and b -> inner (through the re-export): one cycle.
    write("a/inner.rs", "pub struct Thing;\nfn f() { let _ = crate::b::Other; }\n");
    let krate = Crate::load(src);
    let (count, message) = report(&krate);
    assert_eq!(count, 1, "{message}");
    assert!(message.contains("crate::a::inner -> crate::b"), "{message}");

    // A child reading what its parent defines, while the parent reads the child: a cycle too.
    write("a/inner.rs", "use super::Root;\npub(in crate::b) struct Thing;\n");
    write("a/mod.rs", "mod inner;\npub struct Root;\nfn f() { inner::Thing; }\n");
    let krate = Crate::load(src);
    let (count, message) = report(&krate);
    assert_eq!(count, 1, "{message}");
    assert!(message.contains("crate::a -> crate::a::inner"), "{message}");
    // A visibility (`pub(in ..)`) names no dependency.
    assert!(!krate.edges()["crate::a::inner"].contains_key("crate::b"));
}

/// The `text` block under `# Layout` in `src/lib.rs`'s module docs.
fn layout_block() -> Vec<String> {
    let lib = fs::read_to_string(src_dir().join("lib.rs")).expect("src/lib.rs");
    let docs: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let start = docs.iter().position(|l| *l == "# Layout").expect("a # Layout section");
    let open = start
        + docs[start..]
            .iter()
            .position(|l| *l == "```text")
            .expect("a text block")
        + 1;
    let close = open + docs[open..].iter().position(|l| *l == "```").expect("the block closed");
    docs[open..close].iter().map(|l| l.to_string()).collect()
}

/// The modules `file` declares (test-only ones left out).
fn declared_modules(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(file).expect("readable source");
    let tokens = drop_test_items(tokenize(&blank_comments_and_strings(&text)));
    parse(&tokens).children.into_iter().collect()
}

#[test]
fn the_layout_block_names_every_module_in_layer_order() {
    let block = layout_block();
    let top: Vec<String> = block
        .iter()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let modules = declared_modules(&src_dir().join("lib.rs"));
    for module in &modules {
        assert!(
            top.contains(module),
            "src/lib.rs's layout block does not name `{module}`:\n{}",
            block.join("\n")
        );
    }
    for listed in &top {
        assert!(
            modules.contains(listed),
            "the layout block names `{listed}`, which src/lib.rs does not declare"
        );
    }

    // Each top-level module imports only modules listed before it.
    let rank = |module: &str| -> Option<usize> {
        let first = module.strip_prefix("crate::")?.split("::").next()?;
        top.iter().position(|t| t == first)
    };
    let krate = Crate::load(&src_dir());
    let mut upward = Vec::new();
    for (from, targets) in krate.edges() {
        for (to, line) in targets {
            if let (Some(a), Some(b)) = (rank(&from), rank(&to))
                && b > a
            {
                upward.push(format!("{from} -> {to} ({}:{line})", krate.modules[&from].0.display()));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports against the layout's order:\n{}",
        upward.join("\n")
    );

    // The service's own modules are named in the indented lines under `service`.
    let service_at = block
        .iter()
        .position(|l| l.starts_with("service "))
        .expect("a service line");
    let service_lines: Vec<&String> = block[service_at + 1..]
        .iter()
        .take_while(|l| l.starts_with(' '))
        .collect();
    let words: BTreeSet<&str> = service_lines
        .iter()
        .flat_map(|l| l.split(|c: char| !(c.is_alphanumeric() || c == '_')))
        .collect();
    for module in declared_modules(&src_dir().join("service").join("mod.rs")) {
        assert!(
            words.contains(module.as_str()),
            "src/lib.rs's layout block does not name service's `{module}` under `service`"
        );
    }
}

#[test]
fn the_crate_docs_point_only_inside_the_repository() {
    let lib = fs::read_to_string(src_dir().join("lib.rs")).expect("src/lib.rs");
    for outside in ["DESIGN.md", "shared folder"] {
        assert!(
            !lib.contains(outside),
            "src/lib.rs names `{outside}`, which is not in the repository"
        );
    }
}

/// The service's children bottom up, one slice per layer: a module may import its own layer and those
/// before it, never one after it. The service's root (`service/mod.rs`, the runtime that starts and
/// drains the layers) stands above them all. A new child of `service` must be given a layer here.
const SERVICE_LAYERS: &[(&str, &[&str])] = &[
    ("leaves", &["error", "clock", "config", "requester"]),
    ("chain view", &["chain"]),
    ("webhook outbox model", &["webhook"]),
    ("metrics", &["metrics"]),
    ("limits", &["limits"]),
    ("job domain", &["jobs"]),
    ("operations", &["ops"]),
    ("edge", &["http"]),
];

/// Imports from a child of `parent` to a child of a higher layer, and the children no layer names.
fn against_layer_order(krate: &Crate, parent: &str, layers: &[(&str, &[&str])]) -> (Vec<String>, Vec<String>) {
    let child_of = |module: &str| -> Option<String> {
        let rest = module.strip_prefix(parent)?.strip_prefix("::")?;
        Some(rest.split("::").next()?.to_string())
    };
    let rank = |child: &str| layers.iter().position(|(_, members)| members.contains(&child));
    let mut upward = Vec::new();
    let mut unranked = BTreeSet::new();
    for (from, targets) in krate.edges() {
        let Some(from_child) = child_of(&from) else { continue };
        for (to, line) in targets {
            let Some(to_child) = child_of(&to) else { continue };
            match (rank(&from_child), rank(&to_child)) {
                (Some(a), Some(b)) if b > a => upward.push(format!(
                    "{from} ({}) -> {to} ({})   ({}:{line})",
                    layers[a].0,
                    layers[b].0,
                    krate.modules[&from].0.display()
                )),
                (None, _) => {
                    unranked.insert(from_child.clone());
                }
                (_, None) => {
                    unranked.insert(to_child);
                }
                _ => {}
            }
        }
    }
    (upward, unranked.into_iter().collect())
}

#[test]
fn the_service_layers_import_only_downward() {
    let krate = Crate::load(&src_dir());
    let (upward, unranked) = against_layer_order(&krate, "crate::service", SERVICE_LAYERS);
    assert!(
        unranked.is_empty(),
        "service modules in no layer of SERVICE_LAYERS (tests/layers.rs): {unranked:?}"
    );
    assert!(
        upward.is_empty(),
        "imports against the service's layer order:\n{}",
        upward.join("\n")
    );
    for module in declared_modules(&src_dir().join("service").join("mod.rs")) {
        assert!(
            SERVICE_LAYERS
                .iter()
                .any(|(_, members)| members.contains(&module.as_str())),
            "service's `{module}` is in no layer of SERVICE_LAYERS (tests/layers.rs)"
        );
    }
}

/// The layer check itself: an import from a lower layer to a higher one is found, with its line, through
/// a child folder and a re-export; downward imports and test-only code pass.
#[test]
fn the_layer_check_finds_upward_imports() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let src = dir.path();
    let write = |path: &str, text: &str| write_source(src, path, text);
    write("lib.rs", "pub mod s;\n");
    write("s/mod.rs", "mod low;\nmod high;\n");
    write(
        "s/low.rs",
        "mod part;\npub use part::Thing;\n#[cfg(test)]\nmod tests { use crate::s::high::Top; }\n",
    );
    write("s/low/part.rs", "pub struct Thing;\n");
    write("s/high.rs", "use crate::s::low::Thing;\npub struct Top;\n");
    let layers: &[(&str, &[&str])] = &[("bottom", &["low"]), ("top", &["high"])];
    let krate = Crate::load(src);
    let (upward, unranked) = against_layer_order(&krate, "crate::s", layers);
    assert!(upward.is_empty() && unranked.is_empty(), "{upward:?} {unranked:?}");

    write(
        "s/low/part.rs",
        "pub struct Thing;\n\nfn f() { let _ = crate::s::high::Top; }\n",
    );
    let krate = Crate::load(src);
    let (upward, _) = against_layer_order(&krate, "crate::s", layers);
    assert_eq!(upward.len(), 1, "{upward:?}");
    assert!(
        upward[0].starts_with("crate::s::low::part (bottom) -> crate::s::high (top)") && upward[0].ends_with(":3)"),
        "{upward:?}"
    );

    // A module no layer names is reported, not passed.
    write("s/mod.rs", "mod low;\nmod high;\nmod loose;\n");
    write("s/loose.rs", "use crate::s::low::Thing;\n");
    let krate = Crate::load(src);
    let (_, unranked) = against_layer_order(&krate, "crate::s", layers);
    assert_eq!(unranked, vec!["loose".to_string()]);
}
