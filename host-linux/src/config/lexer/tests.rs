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

/// The lines (words joined by one blank) the lexer hands on, with config id `id`, and
/// the diagnostics' messages.
fn lines_as(id: &str, text: &str) -> (Vec<String>, Vec<String>) {
    let mut d = Diags::default();
    let mut c = Collect {
        diags: &mut d,
        tokens: Vec::new(),
    };
    lex_str_into_as(Path::new("/nonexistent/t.conf"), text, id, &mut c);
    let mut lines = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    for t in c.tokens {
        match t.tok {
            Tok::Word { text, .. } => cur.push(text),
            Tok::Open => cur.push("{".into()),
            Tok::Close => cur.push("}".into()),
            Tok::Eol => lines.push(std::mem::take(&mut cur).join(" ")),
            Tok::Eof => {}
        }
    }
    (lines, d.items.into_iter().map(|d| d.message).collect())
}

fn lines(text: &str) -> Vec<String> {
    let (l, d) = lines_as("main", text);
    assert!(d.is_empty(), "{d:?}");
    l
}

#[test]
fn conditional_lines_compare_with_the_config_id() {
    let text = "@main a 1\n@backup b 2\n@^main c 3\n@^backup d 4\n@main\n@ e 5\n@^ f 6\n";
    assert_eq!(lines_as("main", text).0, ["a 1", "d 4", "f 6"]);
    assert_eq!(lines_as("backup", text).0, ["b 2", "c 3", "f 6"]);
    assert_eq!(lines_as("", text).0, ["c 3", "d 4", "e 5"]);
}

#[test]
fn definitions_are_replaced_when_used_and_left_when_undefined() {
    assert_eq!(
        lines("$P=100\npriority $P\nx ${P}0 $P0 $Q ${Q}\n$P=7\ny $P,$P)\n"),
        ["priority 100", "x 1000 $P0 $Q $ { Q }", "y 7,7)"]
    );
    // Replaced at use, not at definition; `=` right after the name; names not digits.
    assert_eq!(
        lines("$A=1.${B}\n$B=2\na $A\n$B=3\nb $A\n$C =1\n$1X=2\n"),
        ["a 1.2", "b 1.3", "$C =1", "$1X=2"]
    );
    // The rescan sees what a replacement makes: a conditional, a comment.
    assert_eq!(
        lines_as(
            "main",
            "$M=@main\n$M a 1\n$N=@backup\n$N b 2\nc 1${_HASH}2\n"
        )
        .0,
        ["a 1", "c 1"]
    );
}

#[test]
fn predefined_definitions() {
    let (l, _) = lines_as(
        "lb-7",
        "a ${_INSTANCE}\nb \"${_HASH}${_BANG}\"\nc ${_RANDOM 5 5}\nd ${_PWD}\n",
    );
    assert_eq!(l[..3], ["a lb-7", "b #!", "c 5"]);
    assert!(l[3].starts_with("d /"), "{l:?}");
    // Only _RANDOM takes parameters; a user definition may override a pre-defined one.
    assert_eq!(
        lines("$P=1\na ${P 2}\n$_INSTANCE=x\nb ${_INSTANCE}\n"),
        ["a $ { P 2 }", "b x"]
    );
}

#[test]
fn multi_line_definitions_expand_line_by_line_and_nest() {
    let text = "$IP=\\\n10.0.0.${N}/32 \\\n10.0.1.${N}/32\n$B= \\\nvip { \\\n  @main $IP \\\n}\n$N=4\n$B\n";
    assert_eq!(lines(text), ["vip {", "10.0.0.4/32", "10.0.1.4/32", "}"]);
    // An empty line, and a comment-only line, end a definition; mid-line a multi-line
    // definition is not replaced.
    assert_eq!(
        lines("$X=a \\\nb \\\n\nc\nk $X\nm $X n\n$Y=p \\\n# c\nq\nr $Y\n"),
        ["c", "k a", "b", "m $X n", "q", "r p"]
    );
}

#[test]
fn sequence_and_list_blocks() {
    assert_eq!(lines("~SEQ(N, 1, 3) a${N}\n"), ["a1", "a2", "a3"]);
    assert_eq!(lines("~SEQ(N, 2) a${N}\n"), ["a1", "a2"]);
    assert_eq!(lines("~SEQ(N, 0) a${N}\n"), ["a1", "a0"]);
    assert_eq!(lines("~SEQ(N, -2) a${N}\n"), ["a-1", "a-2"]);
    assert_eq!(lines("~SEQ(N, 5, 3) a${N}\n"), ["a5", "a4", "a3"]);
    assert_eq!(lines("~SEQ(N, 1, 2, 6) a${N}\n"), ["a1", "a3", "a5"]);
    assert_eq!(
        lines("~SEQx(N, 0x90, 0x10, 0xc0) ::${N}\n"),
        ["::90", "::a0", "::b0", "::c0"]
    );
    assert_eq!(
        lines("$E=2\n~SEQ(A, 1, $E) ~SEQ(B, 0, 1) ${A}.${B}\n"),
        ["1.0", "1.1", "2.0", "2.1"]
    );
    assert_eq!(
        lines("~LST({A, B}, {1,2},{3}) ~LST(C, x, y) ${A}-${B}-${C}\n"),
        ["1-2-x", "1-2-y", "3--x", "3--y"]
    );
    assert_eq!(lines("~OTHER $X\n"), ["~OTHER $X"]);
    // A multi-line definition is read whole for each value.
    assert_eq!(
        lines("$I=\\\ni${N} \\\nj${N}\n~SEQ(N, 1, 2) $I\nz\n"),
        ["i1", "j1", "i2", "j2", "z"]
    );
    for bad in [
        "~SEQ(N, 1, 0, 3) a\n",
        "~SEQ(N, 1, -1, 3) a\n",
        "~SEQ N 1 3\n",
        "~SEQ(N, 1, 3 a\n",
        "~SEQ(3) a\n",
        "~SEQ(N, 1, x) a\n",
        "~SEQx(N, -1, 3) a\n",
        "~LST({A}, {1,2}) a\n",
        "~LST(A 1 2) a\n",
    ] {
        let (l, d) = lines_as("main", bad);
        assert!(l.is_empty(), "{bad}: {l:?}");
        assert!(
            d.len() == 1 && d[0].starts_with("invalid ~"),
            "{bad}: {d:?}"
        );
    }
}

#[test]
fn a_brace_ends_the_line_and_the_rest_is_read_again() {
    assert_eq!(
        lines("b { @main p 1\nc { @backup q 2\nd { $V=3\ne { ~SEQ(N,1,2) x${N} $V\n"),
        ["b { p 1", "c {", "d {", "e {", "x1 3", "x2 3"]
    );
}

#[test]
fn expansions_are_bounded() {
    // keepalived loops forever on the first and grows the line on the second.
    for text in ["$A=${A}\nx ${A}\n", "$A=${A}x\nx ${A}\n"] {
        let (l, d) = lines_as("main", text);
        assert!(l.is_empty(), "{l:?}");
        assert!(
            d.len() == 1 && d[0].contains("does a definition use itself"),
            "{d:?}"
        );
    }
    let (l, d) = lines_as("main", "$A=\\\nx \\\n$A\ny $A\n");
    assert_eq!(l.len(), MAX_MULTILINE_NESTING, "{}", l.len());
    assert!(d.len() == 1 && d[0].contains("nested more than"), "{d:?}");
    let (l, d) = lines_as("main", "~SEQ(N, 1, 1000000000) x\n");
    assert!(l.is_empty());
    assert!(
        d.len() == 1 && d[0].contains("would generate 1000000000 lines"),
        "{d:?}"
    );
    let (l, d) = lines_as("main", "~SEQ(A, 1, 2000) ~SEQ(B, 1, 2000) \n");
    assert!(l.is_empty());
    assert!(
        d.len() == 1 && d[0].contains("2000000 lines vigild generates"),
        "{d:?}"
    );
    // The bound counts every generated line: here the ones a definition's last line
    // makes by using itself (keepalived reads it forever).
    let (l, d) = lines_as("main", "$A=\\\n$A\n$A\n");
    assert!(l.is_empty());
    assert!(
        d.len() == 1 && d[0].contains("does a definition use itself"),
        "{d:?}"
    );
}

#[test]
fn generated_lines_point_at_the_use() {
    let mut d = Diags::default();
    let t = lex_str_as(
        "$I=\\\nalpha \\\nbeta\n~SEQ(N, 1, 2)   x${N} y\n  k $I\n",
        "main",
        &mut d,
    );
    let at: Vec<(String, u32, u32)> = t
        .iter()
        .filter_map(|t| t.word().map(|w| (w.to_string(), t.loc.line, t.loc.col)))
        .collect();
    assert_eq!(
        at,
        [
            ("x1".to_string(), 4, 17),
            ("y".into(), 4, 23),
            ("x2".into(), 4, 17),
            ("y".into(), 4, 23),
            ("k".into(), 5, 3),
            ("alpha".into(), 5, 5),
            ("beta".into(), 5, 5),
        ]
    );
}

fn lex_str_as(text: &str, id: &str, diags: &mut Diags) -> Vec<Token> {
    let mut c = Collect {
        diags,
        tokens: Vec::new(),
    };
    lex_str_into_as(Path::new("/nonexistent/t.conf"), text, id, &mut c);
    c.tokens
}

#[test]
fn a_comment_ending_in_a_backslash_glues_it() {
    assert_eq!(lines("priority 100 # c \\\n"), ["priority 100\\"]);
}
