//! A tiny command-line parser: `--key value` pairs and bare `--flag`s.

use std::collections::HashMap;
use std::str::FromStr;

/// Parsed `--key value` options.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, String>,
}

impl Args {
    /// Parses the process's arguments; `--key value`, or `--flag` alone (value `true`) when
    /// followed by another option or nothing. Exits with a message on a stray argument.
    pub fn from_env(usage: &str) -> Args {
        let mut values = HashMap::new();
        let mut it = std::env::args().skip(1).peekable();
        while let Some(arg) = it.next() {
            let Some(key) = arg.strip_prefix("--") else {
                eprintln!("unexpected argument {arg:?}\n{usage}");
                std::process::exit(2);
            };
            if key == "help" {
                println!("{usage}");
                std::process::exit(0);
            }
            let value = match it.peek() {
                Some(v) if !v.starts_with("--") => it.next().unwrap_or_default(),
                _ => "true".to_owned(),
            };
            values.insert(key.to_owned(), value);
        }
        Args { values }
    }

    /// The value of `--key` parsed as `T`, or `default`; exits with a message if unparsable.
    pub fn get<T: FromStr>(&self, key: &str, default: T) -> T {
        match self.values.get(key) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("bad value for --{key}: {v:?}");
                std::process::exit(2);
            }),
        }
    }

    /// The value of `--key` as a string, if given.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}
