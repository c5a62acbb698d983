//! `bb.fetch2.URI` reads `urllib.parse.urlparse`'s fields of a plain URL from the host
//! (`_hz.split_url`): they must be what python's parse gives, for every URL it takes, and
//! it must hand anything else back to python (None).

use bb_data::DataStore;
use bb_python::Python;

/// URLs `_hz.split_url` parses itself (`true`) or hands back to python (`false`).
const URLS: &[(&str, bool)] = &[
    ("https://example.com/a/b-1.0.tar.gz", true),
    ("HTTPS://Example.COM:8080/a?b=c&d#frag", true),
    ("ftp://user:pw@host/pub/x.tar.xz", true),
    ("git://git.example.org/repo.git", true),
    ("gitsm://user@host:22/x", true),
    ("git+ssh://host/x", true),
    ("file://a/b.patch", true),
    ("file:///abs/path", true),
    ("file:a.patch", true),
    ("file:", true),
    ("crate://crates.io/serde/1.0.0", true),
    ("npm://registry.npmjs.org/", true),
    ("npmsw://${WORKDIR}/x", true),
    ("http://a@b@host/x", true),
    ("http://user:p:w@host:1/x", true),
    ("http://host:/x", true),
    ("http://host%ZoNe:80/x", true),
    ("http://:80/x", true),
    ("http://@/x", true),
    ("http:///x", true),
    ("http://host:65535/", true),
    ("http://host:00080/", true),
    ("//host/path", true),
    ("/just/a/path", true),
    ("relative", true),
    ("", true),
    ("1abc://host/x", true),
    ("a_b://host/x", true),
    ("a.b-c+d://host/x", true),
    ("http://host/a%20b", true),
    ("http://host?q#f?g", true),
    ("http://host#f/g", true),
    ("http://host:65536/", false),
    ("http://host:99999999999999999999/", false),
    ("http://host:8x/", false),
    ("http://host:-1/", false),
    ("http://[::1]:80/x", false),
    ("http://host/x;param", false),
    (" http://host/x", false),
    ("http://host/x y", false),
    ("http://host/\tx", false),
    ("http://höst/x", false),
];

/// The comparison, in python: one line per URL whose fields differ, or whose
/// native/fallback choice is not the expected one (None: either); and how many of the URLs
/// were parsed natively.
const COMPARE: &str = r#"
import json, urllib.parse, _hz
problems = []
native_count = 0
for url, native in json.loads(d.getVar("URLS")):
    fields = _hz.split_url(url)
    native_count += fields is not None
    if native is not None and (fields is not None) != native:
        problems.append("%r: native %s, expected %s" % (url, fields is not None, native))
        continue
    if fields is None:
        continue
    parsed = urllib.parse.urlparse(url)
    expected = (parsed.scheme, parsed.path, parsed.query, parsed.hostname, parsed.port,
                parsed.username, parsed.password)
    if fields != expected:
        problems.append("%r: %r, python %r" % (url, fields, expected))
d.setVar("PROBLEMS", "\n".join(problems))
d.setVar("NATIVE", str(native_count))
"#;

/// (the problems COMPARE finds, how many URLs were parsed natively).
fn compare(urls: &[(String, Option<bool>)]) -> (String, usize) {
    let python = Python::new().expect("python starts");
    let d = DataStore::new();
    let json = serde_json::to_string(urls).expect("serialises");
    d.set_var("URLS", json).expect("set");
    bb_data::PythonHost::exec(&python, &d, COMPARE).expect("the comparison runs");
    let read = |var: &str| d.get_var_str(var).expect("read").expect("set").to_string();
    (read("PROBLEMS"), read("NATIVE").parse().expect("a count"))
}

#[test]
fn native_url_fields_agree_with_urllib() {
    let urls: Vec<(String, Option<bool>)> = URLS
        .iter()
        .map(|(url, native)| (url.to_string(), Some(*native)))
        .collect();
    assert_eq!(compare(&urls).0, "");
}

/// Every URL in openembedded-core's metadata (without its `;` parameters, as
/// `bb.fetch2.URI` parses it).
#[test]
fn native_url_fields_agree_with_urllib_on_the_corpus() {
    let Some(shared) = test_support::require_shared("native_url_fields_agree_on_the_corpus") else {
        return;
    };
    let root = shared.join("corpus/openembedded-core");
    let mut urls = std::collections::BTreeSet::new();
    for path in bb_syntax::collect_metadata_files(&root).expect("corpus is readable") {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for word in text.split(|c: char| c.is_whitespace() || c == '"' || c == '\\') {
            if word.contains("://") {
                urls.insert(word.split(';').next().unwrap_or(word).to_owned());
            }
        }
    }
    assert!(urls.len() > 1000, "only {} URLs found", urls.len());
    let urls: Vec<(String, Option<bool>)> = urls.into_iter().map(|url| (url, None)).collect();
    let (problems, native) = compare(&urls);
    assert_eq!(problems, "");
    assert!(
        native * 10 > urls.len() * 9,
        "only {native} of {} corpus URLs parsed natively",
        urls.len()
    );
}

/// A relative `file:` URL never reads its port; one with a host does, and python's error
/// about a bad port is raised.
#[test]
fn a_bad_port_raises_only_where_uri_reads_it() {
    let python = Python::new().expect("python starts");
    let d = DataStore::new();
    let code = r#"
out = []
for url in ["file://host:bad/x", "http://host:bad/x", "http://host:70000/x", "http://[::1]:8/x"]:
    try:
        u = bb.fetch.URI(url)
        out.append("%s|%s|%s|%s" % (u.scheme, u.hostname, u.path, u.relative))
    except ValueError as e:
        out.append("ValueError: %s" % e)
d.setVar("OUT", " ; ".join(out))
"#;
    bb_data::PythonHost::exec(&python, &d, code).expect("runs");
    assert_eq!(
        d.get_var_str("OUT").expect("read").expect("set"),
        "file||host:bad/x|True ; \
         ValueError: Port could not be cast to integer value as 'bad' ; \
         ValueError: Port out of range 0-65535 ; http|::1|/x|False"
    );
}
