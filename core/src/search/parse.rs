//! The search expression language, the same for the CLI and every binding.
//!
//! ```text
//! expr       := term ("or" term)*
//! term       := factor ("and" factor)*
//! factor     := "not" factor | "(" expr ")" | "has" label | label op value
//!             | label "in" "(" value ("," value)* ")"
//! op         := "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "^="   (^= is "starts with")
//! label      := a word, or a quoted string
//! value      := a word, or a quoted string ("..." or '...', with \" \' \\ escapes)
//! word       := letters, digits and _ . - : / @ + * # (not starting a keyword's meaning)
//! ```
//!
//! Keywords (`and`, `or`, `not`, `in`, `has`) are case-insensitive; quote a label or value
//! that is one. `and` binds tighter than `or`. A word value is taken as written, so
//! `priority >= 3` compares with the number 3 and `status = pending` with the text
//! "pending" (see [`value`](super::value) for the order). Errors name the column.

use std::ops::Bound;

use super::Clause;
use crate::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

const OPS: [&str; 8] = ["==", "!=", "<=", ">=", "^=", "=", "<", ">"];

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || "_.-:/@+*#".contains(c)
}

fn tokens(text: &str) -> Result<Vec<(usize, Token)>> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut at = 0;
    while at < chars.len() {
        let (offset, c) = chars[at];
        let column = text[..offset].chars().count() + 1;
        if c.is_whitespace() {
            at += 1;
        } else if c == '(' || c == ')' || c == ',' {
            out.push((column, [Token::Open, Token::Close, Token::Comma]["(),".find(c).expect("one of three")].clone()));
            at += 1;
        } else if c == '"' || c == '\'' {
            let mut value = String::new();
            at += 1;
            loop {
                match chars.get(at) {
                    None => return Err(parse_error(column, "a quoted string is not closed")),
                    Some(&(_, '\\')) => match chars.get(at + 1) {
                        Some(&(_, escaped @ ('"' | '\'' | '\\'))) => {
                            value.push(escaped);
                            at += 2;
                        }
                        _ => return Err(parse_error(column, "only \\\" \\' and \\\\ are escapes")),
                    },
                    Some(&(_, quote)) if quote == c => {
                        at += 1;
                        break;
                    }
                    Some(&(_, other)) => {
                        value.push(other);
                        at += 1;
                    }
                }
            }
            out.push((column, Token::Quoted(value)));
        } else if let Some(op) = OPS.iter().find(|op| text[offset..].starts_with(**op)) {
            out.push((column, Token::Op(op)));
            at += op.len();
        } else if is_word_char(c) {
            let start = offset;
            while at < chars.len() && is_word_char(chars[at].1) {
                at += 1;
            }
            let end = chars.get(at).map_or(text.len(), |(offset, _)| *offset);
            out.push((column, Token::Word(text[start..end].to_string())));
        } else {
            return Err(parse_error(column, &format!("unexpected {c:?}")));
        }
    }
    Ok(out)
}

fn parse_error(column: usize, message: &str) -> Error {
    Error::invalid(format!("search expression, column {column}: {message}"))
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, token)| token)
    }

    fn column(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(column, _)| *column)
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expr(&mut self, depth: usize) -> Result<Clause> {
        if depth > super::MAX_DEPTH {
            return Err(parse_error(self.column(), &format!("nested deeper than {} levels", super::MAX_DEPTH)));
        }
        let mut terms = vec![self.term(depth)?];
        while self.keyword("or") {
            self.at += 1;
            terms.push(self.term(depth)?);
        }
        Ok(if terms.len() == 1 { terms.pop().expect("one term") } else { Clause::Or(terms) })
    }

    fn term(&mut self, depth: usize) -> Result<Clause> {
        let mut factors = vec![self.factor(depth)?];
        while self.keyword("and") {
            self.at += 1;
            factors.push(self.factor(depth)?);
        }
        Ok(if factors.len() == 1 { factors.pop().expect("one factor") } else { Clause::And(factors) })
    }

    fn factor(&mut self, depth: usize) -> Result<Clause> {
        if self.keyword("not") {
            self.at += 1;
            return Ok(Clause::Not(Box::new(self.factor(depth + 1)?)));
        }
        if self.keyword("has") {
            self.at += 1;
            let label = self.text("a label name after `has`")?;
            return Ok(Clause::Exists { label });
        }
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let clause = self.expr(depth + 1)?;
            if self.peek() != Some(&Token::Close) {
                return Err(parse_error(self.column(), "expected `)`"));
            }
            self.at += 1;
            return Ok(clause);
        }
        let label = self.text("a label name, `not`, `has` or `(`")?;
        if self.keyword("in") {
            self.at += 1;
            if self.peek() != Some(&Token::Open) {
                return Err(parse_error(self.column(), "expected `(` after `in`"));
            }
            self.at += 1;
            let mut values = vec![self.text("a value")?];
            while self.peek() == Some(&Token::Comma) {
                self.at += 1;
                values.push(self.text("a value after `,`")?);
            }
            if self.peek() != Some(&Token::Close) {
                return Err(parse_error(self.column(), "expected `,` or `)` in the `in` list"));
            }
            self.at += 1;
            return Ok(Clause::In { label, values });
        }
        let column = self.column();
        let Some(Token::Op(op)) = self.peek().cloned() else {
            return Err(parse_error(
                column,
                &format!("expected an operator (= != < <= > >= ^=) or `in` after {label:?}"),
            ));
        };
        self.at += 1;
        let value = self.text(&format!("a value after `{op}`"))?;
        let range = |low, high| Clause::Range { label: label.clone(), low, high };
        Ok(match op {
            "=" | "==" => Clause::Eq { label, value },
            "!=" => Clause::Not(Box::new(Clause::Eq { label, value })),
            "<" => range(Bound::Unbounded, Bound::Excluded(value)),
            "<=" => range(Bound::Unbounded, Bound::Included(value)),
            ">" => range(Bound::Excluded(value), Bound::Unbounded),
            ">=" => range(Bound::Included(value), Bound::Unbounded),
            "^=" => Clause::Prefix { label, prefix: value },
            _ => unreachable!("every operator is listed"),
        })
    }

    fn text(&mut self, wanted: &str) -> Result<String> {
        let column = self.column();
        match self.peek().cloned() {
            Some(Token::Quoted(text)) => {
                self.at += 1;
                Ok(text)
            }
            Some(Token::Word(word))
                if !["and", "or", "not", "in", "has"].iter().any(|k| word.eq_ignore_ascii_case(k)) =>
            {
                self.at += 1;
                Ok(word)
            }
            Some(Token::Word(word)) => Err(parse_error(
                column,
                &format!("expected {wanted}, found the keyword `{word}` (quote it to use it as text)"),
            )),
            Some(other) => Err(parse_error(column, &format!("expected {wanted}, found {}", describe(&other)))),
            None => Err(parse_error(column, &format!("expected {wanted}, found the end"))),
        }
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(word) => format!("{word:?}"),
        Token::Quoted(text) => format!("{text:?}"),
        Token::Op(op) => format!("`{op}`"),
        Token::Open => "`(`".into(),
        Token::Close => "`)`".into(),
        Token::Comma => "`,`".into(),
    }
}

pub(crate) fn clause(text: &str) -> Result<Clause> {
    if text.len() > 64 * 1024 {
        return Err(Error::invalid("a search expression is at most 64 KiB"));
    }
    let tokens = tokens(text)?;
    let end = text.chars().count() + 1;
    if tokens.is_empty() {
        return Err(parse_error(1, "the expression is empty"));
    }
    let mut parser = Parser { tokens, at: 0, end };
    let clause = parser.expr(1)?;
    if parser.at != parser.tokens.len() {
        let column = parser.column();
        let found = describe(&parser.tokens[parser.at].1);
        return Err(parse_error(column, &format!("expected `and`, `or` or the end, found {found}")));
    }
    clause.check()?;
    Ok(clause)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn the_grammar_builds_the_same_clauses_as_the_builders() {
        let parsed = clause("status = pending and priority >= 3").unwrap();
        assert_eq!(parsed, Clause::eq("status", "pending").and(Clause::range("priority", 3..)));
        let parsed = clause("a = 1 or b = 2 and not (c != x)").unwrap();
        let expected = Clause::eq("a", 1).or(Clause::eq("b", 2).and(Clause::eq("c", "x").negate().negate()));
        assert_eq!(parsed, expected);
        assert_eq!(clause("kind IN (a, 'b c', \"d\\\"\")").unwrap(), Clause::one_of("kind", ["a", "b c", "d\""]));
        assert_eq!(clause("HAS owner").unwrap(), Clause::exists("owner"));
        assert_eq!(clause("name ^= ab").unwrap(), Clause::prefix("name", "ab"));
        assert_eq!(clause("n < -1.5e3").unwrap(), Clause::range("n", .."-1.5e3"));
        assert_eq!(clause("'and' = \"or\"").unwrap(), Clause::eq("and", "or"));
        assert_eq!(clause("path == a/b:c").unwrap(), Clause::eq("path", "a/b:c"));
        assert_eq!(clause("x <= 5").unwrap(), Clause::range("x", ..=5));
        assert_eq!(
            clause("x > 5").unwrap(),
            Clause::Range { label: "x".into(), low: Bound::Excluded("5".into()), high: Bound::Unbounded }
        );
    }

    #[test]
    fn malformed_expressions_name_the_column() {
        for (text, needle) in [
            ("", "column 1: the expression is empty"),
            ("status =", "column 9: expected a value after `=`, found the end"),
            ("status pending", "column 8: expected an operator"),
            ("(a = 1", "column 7: expected `)`"),
            ("a = 1 b = 2", "column 7: expected `and`, `or` or the end"),
            ("a = 'x", "column 5: a quoted string is not closed"),
            ("a in 1", "column 6: expected `(` after `in`"),
            ("a in (1 2)", "column 9: expected `,` or `)`"),
            ("a = and", "found the keyword `and`"),
            ("a ~ b", "column 3: unexpected '~'"),
            ("and = 1", "found the keyword `and`"),
        ] {
            let error = clause(text).unwrap_err();
            assert_eq!(error.code(), ErrorCode::InvalidInput, "{text}");
            assert!(error.to_string().contains(needle), "{text:?}: {error}");
        }
        let deep = format!("{}a = 1{}", "(".repeat(20), ")".repeat(20));
        assert!(clause(&deep).unwrap_err().to_string().contains("nested deeper"));
        let wide = (0..70).map(|i| format!("a = {i}")).collect::<Vec<_>>().join(" or ");
        assert!(clause(&wide).unwrap_err().to_string().contains("more than 64 clauses"));
    }
}
