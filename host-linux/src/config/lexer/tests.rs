use super::*;

fn words(text: &str) -> Vec<String> {
    let mut d = Diags::default();
    lex_str(Path::new("/nonexistent/t.conf"), text, &mut d)
        .into_iter()
        .map(|t| match t.tok {
            Tok::Word { text, quoted: true } => format!("\"{text}\""),
            Tok::Word { text, .. } => text,
            Tok::Open => "{".into(),
            Tok::Close => "}".into(),
            Tok::Eol => ";".into(),
            Tok::Eof => "EOF".into(),
        })
        .collect()
}

#[test]
fn comments_braces_quotes() {
    assert_eq!(
        words("a b # c\nx{y}\n  notify_\"/bin/x y\" ! z\n51#c\n"),
        [
            "a",
            "b",
            ";",
            "x",
            "{",
            "y",
            "}",
            ";",
            "notify_",
            "\"/bin/x y\"",
            ";",
            "51",
            ";",
            "EOF"
        ]
    );
}

#[test]
fn escaped_comment_chars_and_trailing_backslash() {
    assert_eq!(words("a\\#b c \\\n"), ["a#b", "c\\", ";", "EOF"]);
}

#[test]
fn columns_are_characters() {
    let mut d = Diags::default();
    let t = lex_str(Path::new("/x/t.conf"), "# 中文\n  中 key val\n", &mut d);
    assert_eq!((t[1].loc.line, t[1].loc.col), (2, 5));
    assert_eq!(t[1].word(), Some("key"));
}

#[test]
fn command_lines_split_like_keepalived() {
    assert_eq!(
        split_command(r#"/bin/echo "q r" 'a b'c \x41\t"#).unwrap(),
        ["/bin/echo", "q r", "a bc", "A\t"]
    );
    assert_eq!(
        split_command("abcd\" efg h \"mnop").unwrap(),
        ["abcd efg h mnop"]
    );
    assert_eq!(split_command("x 'y"), Err('\''));
}
