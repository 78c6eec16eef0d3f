//! regex-cache 0.2's API, as libphonenumber's port (`phonenumber`) uses it: regular expressions
//! checked when they are declared and compiled on first use into one shared, bounded cache.
//!
//! Why this crate exists: crates.io's regex-cache checks syntax with regex-syntax **0.6**, while
//! `regex` 1.x uses 0.8. Each version links its own Unicode tables, which are full of pointers the
//! dynamic loader must relocate at every cold start (in the five functions that parse phone
//! numbers, the second copy was ~5,300 relocations, ~100 KiB of pages written at every start and
//! 0.56 MiB of binary; benches/README.md, "Init: one regex-syntax").
//! Here the check uses regex's own regex-syntax, so the tables are linked once. The behaviour
//! phonenumber relies on is kept: errors at declaration, compile on first match, an LRU bound on
//! how many compiled expressions are held.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use regex::{Captures, Error, Match, Regex, RegexBuilder, Replacer};

/// Compiled expressions by source, at most `capacity` of them; the least recently used goes first.
#[derive(Debug)]
pub struct RegexCache {
    capacity: usize,
    clock: u64,
    entries: HashMap<String, (Regex, u64)>,
}

impl RegexCache {
    pub fn new(capacity: usize) -> RegexCache {
        RegexCache { capacity: capacity.max(1), clock: 0, entries: HashMap::new() }
    }

    /// The number of compiled expressions held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The expression for `source`, compiled with `options` if it is not held.
    fn get_or_compile(&mut self, source: &str, options: &Options) -> Result<&Regex, Error> {
        self.clock += 1;
        let now = self.clock;
        if !self.entries.contains_key(source) {
            let regex = options.compile(source)?;
            if self.entries.len() >= self.capacity {
                // A linear scan: the capacity phonenumber asks for is 100.
                if let Some(oldest) = self.entries.iter().min_by_key(|(_, (_, used))| *used).map(|(key, _)| key.clone()) {
                    self.entries.remove(&oldest);
                }
            }
            self.entries.insert(source.to_owned(), (regex, now));
        }
        let (regex, used) = self.entries.get_mut(source).expect("held or inserted above");
        *used = now;
        Ok(regex)
    }
}

/// The flags of `RegexBuilder` that a cached expression is declared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Options {
    case_insensitive: bool,
    multi_line: bool,
    dot_matches_new_line: bool,
    swap_greed: bool,
    ignore_whitespace: bool,
    unicode: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            case_insensitive: false,
            multi_line: false,
            dot_matches_new_line: false,
            swap_greed: false,
            ignore_whitespace: false,
            unicode: true,
        }
    }
}

/// Sets each flag of `$options` on `$builder`: `regex::RegexBuilder` and
/// `regex_syntax::ParserBuilder` name them alike, so the check and the compile cannot disagree.
macro_rules! set_flags {
    ($builder:expr, $options:expr) => {
        $builder
            .case_insensitive($options.case_insensitive)
            .multi_line($options.multi_line)
            .dot_matches_new_line($options.dot_matches_new_line)
            .swap_greed($options.swap_greed)
            .ignore_whitespace($options.ignore_whitespace)
            .unicode($options.unicode)
    };
}

impl Options {
    fn compile(&self, source: &str) -> Result<Regex, Error> {
        set_flags!(RegexBuilder::new(source), self).build()
    }

    /// Parses `source` as `regex` would with these flags, without compiling it.
    fn check(&self, source: &str) -> Result<(), Error> {
        set_flags!(regex_syntax::ParserBuilder::new(), self).build().parse(source).map(drop).map_err(|err| Error::Syntax(err.to_string()))
    }
}

/// A declared expression: its source and flags, compiled into the shared cache when matched.
#[derive(Clone)]
pub struct CachedRegex {
    cache: Arc<Mutex<RegexCache>>,
    source: String,
    options: Options,
}

/// Runs `$body` with the compiled expression, holding the cache's lock only for the call.
macro_rules! with_regex {
    ($self:ident, |$re:ident| $body:expr) => {{
        let mut cache = $self.lock();
        let $re = cache.get_or_compile(&$self.source, &$self.options).expect("checked when declared");
        $body
    }};
}

impl CachedRegex {
    /// Declares `source` with the default flags; a syntax error is returned here, not at use.
    pub fn new(cache: Arc<Mutex<RegexCache>>, source: &str) -> Result<CachedRegex, Error> {
        CachedRegexBuilder::new(cache, source).build()
    }

    fn lock(&self) -> MutexGuard<'_, RegexCache> {
        // A panic elsewhere while holding the lock leaves the cache consistent (insert is last).
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_match(&self, text: &str) -> bool {
        with_regex!(self, |re| re.is_match(text))
    }

    pub fn find<'t>(&self, text: &'t str) -> Option<Match<'t>> {
        with_regex!(self, |re| re.find(text))
    }

    pub fn captures<'t>(&self, text: &'t str) -> Option<Captures<'t>> {
        with_regex!(self, |re| re.captures(text))
    }

    pub fn replace<'t, R: Replacer>(&self, text: &'t str, rep: R) -> Cow<'t, str> {
        with_regex!(self, |re| re.replace(text, rep))
    }

    pub fn replace_all<'t, R: Replacer>(&self, text: &'t str, rep: R) -> Cow<'t, str> {
        with_regex!(self, |re| re.replace_all(text, rep))
    }

    pub fn shortest_match(&self, text: &str) -> Option<usize> {
        with_regex!(self, |re| re.shortest_match(text))
    }

    pub fn captures_len(&self) -> usize {
        with_regex!(self, |re| re.captures_len())
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }
}

// Source only: printing a declared expression must not compile it.
impl fmt::Debug for CachedRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CachedRegex").field(&self.source).finish()
    }
}

impl fmt::Display for CachedRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// `RegexBuilder`'s flag setters, for the declared expression's flags.
macro_rules! flag_setters {
    ($($flag:ident),*) => {
        $(
            pub fn $flag(&mut self, yes: bool) -> &mut CachedRegexBuilder {
                self.options.$flag = yes;
                self
            }
        )*
    };
}

/// Declares a `CachedRegex` with flags, as `RegexBuilder` does for a `Regex`.
#[derive(Clone, Debug)]
pub struct CachedRegexBuilder {
    cache: Arc<Mutex<RegexCache>>,
    source: String,
    options: Options,
}

impl CachedRegexBuilder {
    pub fn new(cache: Arc<Mutex<RegexCache>>, source: &str) -> CachedRegexBuilder {
        CachedRegexBuilder { cache, source: source.to_owned(), options: Options::default() }
    }

    /// Checks the syntax with these flags; the expression is compiled at its first use.
    pub fn build(&self) -> Result<CachedRegex, Error> {
        self.options.check(&self.source)?;
        Ok(CachedRegex { cache: Arc::clone(&self.cache), source: self.source.clone(), options: self.options })
    }

    flag_setters!(case_insensitive, multi_line, dot_matches_new_line, swap_greed, ignore_whitespace, unicode);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize) -> Arc<Mutex<RegexCache>> {
        Arc::new(Mutex::new(RegexCache::new(capacity)))
    }

    #[test]
    fn a_syntax_error_is_returned_when_declared_and_nothing_is_compiled() {
        let cache = cache(10);
        let err = CachedRegex::new(cache.clone(), r"(\d").unwrap_err();
        assert!(matches!(err, Error::Syntax(_)), "{err:?}");
        assert!(CachedRegex::new(cache.clone(), r"\d{3}").is_ok());
        assert_eq!(cache.lock().unwrap().len(), 0, "declaring compiles nothing");
    }

    #[test]
    fn the_flags_apply_to_the_check_and_to_the_match() {
        let cache = cache(10);
        // With ignore_whitespace the space is not part of the pattern, and `# ...` is a comment.
        let spaced = CachedRegexBuilder::new(cache.clone(), "^1 2 3$ # digits").ignore_whitespace(true).build().unwrap();
        assert!(spaced.is_match("123"));
        assert!(!spaced.is_match("1 2 3"));
        let plain = CachedRegex::new(cache.clone(), "^1 2 3$").unwrap();
        assert!(plain.is_match("1 2 3"));
        let caseless = CachedRegexBuilder::new(cache.clone(), "^ext$").case_insensitive(true).build().unwrap();
        assert!(caseless.is_match("EXT"));
        // A flag that changes what parses: `\d` with Unicode off still parses, `\p{Nd}` does not.
        assert!(CachedRegexBuilder::new(cache.clone(), r"\p{Nd}").unicode(false).build().is_err());
        assert!(CachedRegexBuilder::new(cache, r"\p{Nd}").build().unwrap().is_match("٣"));
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_the_least_recently_used() {
        let cache = cache(2);
        let a = CachedRegex::new(cache.clone(), "a").unwrap();
        let b = CachedRegex::new(cache.clone(), "b").unwrap();
        let c = CachedRegex::new(cache.clone(), "c").unwrap();
        assert!(a.is_match("a") && b.is_match("b"));
        assert!(a.is_match("a"), "a is now the most recently used");
        assert!(c.is_match("c"));
        let held = cache.lock().unwrap();
        assert_eq!(held.len(), 2);
        assert!(held.entries.contains_key("a") && held.entries.contains_key("c"), "b was evicted");
    }

    #[test]
    fn matches_captures_and_replacements_use_the_compiled_expression() {
        let re = CachedRegex::new(cache(4), r"(\d{3})(\d+)").unwrap();
        assert_eq!(re.find("tel 07700900123").map(|m| m.start()), Some(4));
        assert_eq!(&re.captures("07700900123").unwrap()[1], "077");
        assert_eq!(re.replace("07700900123", "$1-$2"), "077-00900123");
        assert_eq!(re.captures_len(), 3);
        assert_eq!(re.as_str(), r"(\d{3})(\d+)");
        assert_eq!(format!("{re:?}"), r#"CachedRegex("(\\d{3})(\\d+)")"#);
    }
}
