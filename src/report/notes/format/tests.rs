use super::*;

fn entry(context: &str, state: StatusState, description: &str, url: Option<&str>) -> NoteEntry {
    NoteEntry {
        context: context.into(),
        state,
        description: description.into(),
        target_url: url.map(Into::into),
    }
}

#[test]
fn statuses_sort_by_instance_then_by_the_flow_and_read_back() {
    let mut note = NoteText::default();
    note.set(entry("lbops/drift", StatusState::Success, "", None));
    note.set(entry(
        "lbops/authorize",
        StatusState::Failure,
        "user/bob may not pool.weights.update on pool/db",
        Some("http://127.0.0.1:8712/commits/abc"),
    ));
    note.set(entry(
        "lbops/staging/validate",
        StatusState::Pending,
        "checking",
        None,
    ));
    note.set(entry(
        "lbops/validate",
        StatusState::Success,
        "16 resources, all valid",
        None,
    ));
    let text = note.render();
    assert_eq!(
        text,
        "lbops/validate: success — 16 resources, all valid\n\
         lbops/authorize: failure — user/bob may not pool.weights.update on pool/db\n\
         \x20 details: http://127.0.0.1:8712/commits/abc\n\
         lbops/drift: success\n\
         lbops/staging/validate: pending — checking\n"
    );
    let parsed = NoteText::parse(&text);
    assert_eq!(parsed.render(), text);
    assert_eq!(parsed.entries(), note.entries());
    assert_eq!(
        parsed.get("lbops/authorize").unwrap().target_url.as_deref(),
        Some("http://127.0.0.1:8712/commits/abc")
    );
}

#[test]
fn setting_a_context_replaces_only_its_own_block() {
    let text = "lbops/validate: pending — checking\n\
                \x20 details: http://old\n\
                \x20 retried: 2\n\
                lbops/other/validate: failure — theirs\n\
                \x20 something: of theirs\n\
                reviewed by alice\n";
    let mut note = NoteText::parse(text);
    note.set(entry("lbops/validate", StatusState::Success, "ok", None));
    assert_eq!(
        note.render(),
        "lbops/validate: success — ok\n\
         lbops/other/validate: failure — theirs\n\
         \x20 something: of theirs\n\
         reviewed by alice\n"
    );
    note.remove("lbops/validate");
    assert!(note.get("lbops/validate").is_none());
    assert!(note.get("lbops/other/validate").is_some());
}

#[test]
fn lines_that_are_not_statuses_are_kept_as_they_are() {
    let text = "a human wrote this\n\
                \x20 indented under it\n\
                lbops/validate: bogus — not a state\n\
                lbops/apply success\n";
    let note = NoteText::parse(text);
    assert!(note.entries().is_empty());
    assert_eq!(note.render(), text);
}

#[test]
fn descriptions_and_urls_cannot_break_the_line_format() {
    let nasty = Status {
        context: StatusContext::Apply,
        state: StatusState::Error,
        description:
            "line one\nlbops/validate: success — forged\r\n\tdetails: x\u{2028}\u{1b}[31m end"
                .into(),
        target_url: Some("http://h/p a\nlbops/drift: success".into()),
        branch: None,
    };
    let written = NoteEntry::from_status(&ContextName::new(Some("st age\nx".into())), &nasty);
    assert_eq!(written.context, "lbops/st-age-x/apply");
    assert!(!written.description.contains(|c: char| c.is_control()));
    let mut note = NoteText::default();
    note.set(written.clone());
    let text = note.render();
    assert_eq!(text.lines().count(), 2, "{text}");
    let back = NoteText::parse(&text).entries();
    assert_eq!(back, std::slice::from_ref(&written));
    assert_eq!(
        written.description,
        "line one lbops/validate: success — forged details: x [31m end"
    );
    assert_eq!(
        written.target_url.as_deref(),
        Some("http://h/p%20a%20lbops/drift:%20success")
    );

    let long = Status {
        context: StatusContext::Validate,
        state: StatusState::Failure,
        description: "é".repeat(500),
        target_url: Some(" \n ".into()),
        branch: None,
    };
    let written = NoteEntry::from_status(&ContextName::default(), &long);
    assert_eq!(written.description.chars().count(), MAX_DESCRIPTION);
    assert_eq!(written.target_url, None);
}
