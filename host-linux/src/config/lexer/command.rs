//! Script command lines, split with keepalived's quoting rules.

/// keepalived's `alloc_strvec_quoted_escaped`: splits a script command line like a shell
/// would, with `"` and `'` quotes (removed, inner blanks kept, quoted parts glued to the
/// word around them) and backslash escapes (`\n`, `\t`, `\xHH`, `\NNN` octal, `\cC`, `\C`).
/// `Err` names an unterminated quote.
pub fn split_command(s: &str) -> Result<Vec<String>, char> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.peek().is_none() {
            break;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = it.peek() {
            if quote.is_none() && c.is_whitespace() {
                break;
            }
            it.next();
            match c {
                '\\' => {
                    let Some(e) = it.next() else { break };
                    match e {
                        'x' if it.peek().is_some_and(char::is_ascii_hexdigit) => {
                            let mut v: u32 = 0;
                            while let Some(d) = it.peek().and_then(|c| c.to_digit(16)) {
                                v = (v << 4 | d) & 0xff;
                                it.next();
                            }
                            word.push(char::from(v as u8));
                        }
                        'c' if it.peek().is_some() => {
                            let k = it.next().unwrap_or('@');
                            word.push(char::from((k as u32 & 0x1f) as u8));
                        }
                        '0'..='7' => {
                            let mut v = e.to_digit(8).unwrap_or(0);
                            for _ in 0..2 {
                                if let Some(d) = it.peek().and_then(|c| c.to_digit(8)) {
                                    v = v * 8 + d;
                                    it.next();
                                }
                            }
                            word.push(char::from((v & 0xff) as u8));
                        }
                        'a' => word.push('\x07'),
                        'b' => word.push('\x08'),
                        'E' => word.push('\x1b'),
                        'f' => word.push('\x0c'),
                        'n' => word.push('\n'),
                        'r' => word.push('\r'),
                        't' => word.push('\t'),
                        'v' => word.push('\x0b'),
                        other => word.push(other),
                    }
                }
                '"' | '\'' if quote.is_none() => quote = Some(c),
                q if Some(q) == quote => quote = None,
                _ => word.push(c),
            }
        }
        if let Some(q) = quote {
            return Err(q);
        }
        out.push(word);
    }
    Ok(out)
}
