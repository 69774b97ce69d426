//! A reader of the Prometheus text format (what `clustron node --metrics` serves), and a
//! scraper: enough for `clustron top` and the tests, not a general client.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// One sample: `name{label="value",...} number`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(label, _)| label == name).map(|(_, value)| value.as_str())
    }
}

/// Parses an exposition; comments and blank lines are skipped, a malformed line is an error
/// naming it.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        samples.push(parse_line(line).ok_or_else(|| format!("line {}: cannot read {line:?}", number + 1))?);
    }
    Ok(samples)
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        loop {
            // label name
            let start = chars.peek()?.0;
            let mut end = start;
            while let Some(&(index, c)) = chars.peek() {
                if c == '=' || c == '}' {
                    end = index;
                    break;
                }
                chars.next();
            }
            if chars.peek()?.1 == '}' {
                rest = &inner[chars.next()?.0 + 1..];
                break;
            }
            let label = inner[start..end].trim_start_matches(',').trim().to_owned();
            chars.next(); // '='
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                let (_, c) = chars.next()?;
                match c {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    c => value.push(c),
                }
            }
            labels.push((label, value));
            if chars.peek()?.1 == ',' {
                chars.next();
            }
        }
    }
    let mut fields = rest.split_whitespace();
    let value = match fields.next()? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        number => number.parse().ok()?,
    };
    Some(Sample { name: name.to_owned(), labels, value })
}

/// `GET http://address/metrics`, parsed.
pub fn scrape(address: &str, timeout: Duration) -> Result<Vec<Sample>, String> {
    let socket = address
        .to_socket_addrs()
        .map_err(|e| format!("{address}: {e}"))?
        .next()
        .ok_or_else(|| format!("{address}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&socket, timeout).map_err(|e| format!("{address}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("{address}: {e}"))?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| format!("{address}: {e}"))?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| format!("{address}: not an HTTP answer"))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        return Err(format!("{address}: {status}"));
    }
    parse(body).map_err(|e| format!("{address}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_labels_and_values() {
        let text = "# HELP a x\n# TYPE a counter\na 1\nb{x=\"1\",y=\"q\\\"z\\\\\"} 2.5\nc{le=\"+Inf\"} +Inf\n\n";
        let samples = parse(text).unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0], Sample { name: "a".into(), labels: vec![], value: 1.0 });
        assert_eq!(samples[1].label("x"), Some("1"));
        assert_eq!(samples[1].label("y"), Some("q\"z\\"));
        assert_eq!(samples[1].value, 2.5);
        assert_eq!(samples[2].label("le"), Some("+Inf"));
        assert!(samples[2].value.is_infinite());
    }

    #[test]
    fn refuses_malformed_lines() {
        assert!(parse("a{x=\"1\" 2").is_err());
        assert!(parse("a nope").is_err());
        assert!(parse("{x=\"1\"} 2").is_err());
        assert!(parse("a{x=1} 2").is_err());
    }
}
