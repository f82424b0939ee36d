//! The strict request check refuses what AWS refuses: each test sends a
//! request as it goes on the wire and reads the check's verdict.

use super::aws_model::{check, report, Violation, WireRequest};
use super::{replayed, Answer, Replay};

const ELB: &str = "Version=2015-12-01";
const LISTENER: &str = "arn%3Aaws%3Aelasticloadbalancing%3Aeu-west-1%3A123456789012%3Alistener%2Fapp%2Flbops-shop%2F50dc6c495c0c9188%2Ff2f7dc8efc522ab2";

fn query(body: &str) -> Result<String, Vec<Violation>> {
    check(&WireRequest {
        target: None,
        body: body.as_bytes(),
    })
}

fn json(target: &str, body: &str) -> Result<String, Vec<Violation>> {
    check(&WireRequest {
        target: Some(target),
        body: body.as_bytes(),
    })
}

/// `CreateRule` for `/api` answering a fixed response, with `tags`.
fn create_rule(tags: &str) -> String {
    format!(
        "Action=CreateRule&{ELB}&ListenerArn={LISTENER}&Priority=10\
         &Conditions.member.1.Field=path-pattern&Conditions.member.1.Values.member.1=%2Fapi\
         &Actions.member.1.Type=fixed-response&Actions.member.1.FixedResponseConfig.StatusCode=503\
         &Actions.member.1.FixedResponseConfig.ContentType=text%2Fplain{tags}"
    )
}

#[test]
fn a_valid_request_passes_and_names_its_operation() {
    let body = create_rule("&Tags.member.1.Key=lbops%3Aid&Tags.member.1.Value=route%2Fapi");
    assert_eq!(query(&body), Ok("CreateRule".to_owned()));
}

#[test]
fn a_tag_value_with_a_semicolon_is_refused_naming_operation_member_value_and_pattern() {
    let body = create_rule(
        "&Tags.member.1.Key=lbops%3Aid&Tags.member.1.Value=route%2Fapi\
         &Tags.member.2.Key=lbops%3Acontent-type&Tags.member.2.Value=text%2Fplain%3B+charset%3Dutf-8",
    );
    let violations = query(&body).unwrap_err();
    assert_eq!(
        violations,
        [Violation {
            operation: "CreateRule".to_owned(),
            path: "Tags[1].Value".to_owned(),
            value: "\"text/plain; charset=utf-8\"".to_owned(),
            constraint: r"pattern ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$".to_owned(),
        }]
    );
    // What a person reads in the failing test.
    let text = report(&violations);
    assert!(
        text.contains("CreateRule: Tags[1].Value = \"text/plain; charset=utf-8\" breaks pattern"),
        "{text}"
    );
}

#[test]
fn unicode_letters_pass_the_tag_pattern_but_not_past_its_length() {
    // `\p{L}`: letters of any script are fine; 257 of them are not.
    let ok = create_rule("&Tags.member.1.Key=k&Tags.member.1.Value=%C3%A9t%C3%A9");
    assert!(query(&ok).is_ok(), "{ok}");
    let long = create_rule(&format!(
        "&Tags.member.1.Key=k&Tags.member.1.Value={}",
        "a".repeat(257)
    ));
    let violations = query(&long).unwrap_err();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].path, "Tags[0].Value");
    assert!(
        violations[0]
            .constraint
            .starts_with("length 0..=256 characters (it has 257)"),
        "{violations:?}"
    );
}

#[test]
fn missing_required_members_bad_enums_ranges_and_list_sizes_are_each_named() {
    // No ListenerArn; priority 0; an unknown condition field is fine (a
    // string), but five values in one condition list are allowed by the
    // model; an empty tag list is not (Tags: 1..).
    let body = format!(
        "Action=CreateRule&{ELB}&Priority=0\
         &Conditions.member.1.Field=path-pattern&Conditions.member.1.Values.member.1=%2Fa\
         &Actions.member.1.Type=teleport&Tags="
    );
    let violations = query(&body).unwrap_err();
    let found: Vec<(&str, &str)> = violations
        .iter()
        .map(|v| (v.path.as_str(), v.constraint.as_str()))
        .collect();
    assert!(found.contains(&("ListenerArn", "required")), "{found:?}");
    assert!(
        found.contains(&("Priority", "range 1..=50000")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(p, c)| *p == "Actions[0].Type" && c.starts_with("enum [forward,")),
        "{found:?}"
    );
    assert!(found.contains(&("Tags", "1.. items")), "{found:?}");
}

#[test]
fn a_parameter_the_model_does_not_have_is_refused() {
    let body = create_rule("&Tags.member.1.Key=k&Tags.member.1.Value=v&Colour=blue");
    let violations = query(&body).unwrap_err();
    assert_eq!(violations[0].path, "Colour");
    assert!(violations[0]
        .constraint
        .starts_with("a member of the model"));
}

#[test]
fn ec2_lists_are_flattened_and_checked_by_their_query_names() {
    let ok = "Action=DescribeAddresses&Version=2016-11-15&Filter.1.Name=tag-key&Filter.1.Value.1=lbops%3Aid";
    assert_eq!(query(ok), Ok("DescribeAddresses".to_owned()));
    let bad = "Action=AllocateAddress&Version=2016-11-15&Domain=classic";
    let violations = query(bad).unwrap_err();
    assert_eq!(violations[0].path, "Domain");
    assert!(
        violations[0].constraint.starts_with("enum [vpc, standard]"),
        "{violations:?}"
    );
}

#[test]
fn an_operation_lbops_does_not_call_is_refused_until_the_fixture_has_it() {
    let violations =
        query(&format!("Action=SetSecurityGroups&{ELB}&LoadBalancerArn=x")).unwrap_err();
    assert!(
        violations[0]
            .constraint
            .contains("scripts/aws-model-constraints.py"),
        "{violations:?}"
    );
}

#[test]
fn acm_json_requests_are_checked_and_key_material_is_never_shown() {
    let target = "CertificateManager.AddTagsToCertificate";
    let arn = "arn:aws:acm:eu-west-1:123456789012:certificate/8a5c5d8e-1111-2222-3333-444455556666";
    let ok = format!(
        r#"{{"CertificateArn":"{arn}","Tags":[{{"Key":"lbops:id","Value":"certificate/shop"}}]}}"#
    );
    assert_eq!(json(target, &ok), Ok("AddTagsToCertificate".to_owned()));
    let bad = format!(
        r#"{{"CertificateArn":"{arn}","Tags":[{{"Key":"lbops:key","Value":"file:/etc/keys/a b;c"}}]}}"#
    );
    let violations = json(target, &bad).unwrap_err();
    assert_eq!(violations[0].path, "Tags[0].Value");

    // A private key over the model's 8192 bytes: named, never printed.
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode("K".repeat(8193));
    let cert = base64::engine::general_purpose::STANDARD.encode("C");
    let import = format!(r#"{{"Certificate":"{cert}","PrivateKey":"{key}"}}"#);
    let violations = json("CertificateManager.ImportCertificate", &import).unwrap_err();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].path, "PrivateKey");
    assert!(
        violations[0].value.starts_with("(sensitive"),
        "{violations:?}"
    );
    assert!(
        !report(&violations).contains(&key[..16]),
        "key material in the message"
    );
}

#[test]
fn model_patterns_keep_ecma_meanings_in_rust() {
    // `\w` in ACM's ARN pattern is ASCII in ECMA 262 (Unicode in Rust's
    // regex); patterns hold for the whole value, as AWS checks them.
    let target = "CertificateManager.DeleteCertificate";
    let arn = |id: &str| {
        format!(r#"{{"CertificateArn":"arn:aws:acm:eu-west-1:123456789012:certificate/{id}"}}"#)
    };
    assert!(json(target, &arn("12345678-1234")).is_ok());
    let violations = json(target, &arn("12345678-1234é")).unwrap_err();
    assert!(
        violations[0].constraint.starts_with("pattern arn:"),
        "{violations:?}"
    );
    let trailing =
        r#"{"CertificateArn":"arn:aws:acm:eu-west-1:123456789012:certificate/1 and more"}"#;
    assert!(
        json(target, trailing).is_err(),
        "a match inside the value is not enough"
    );
}

/// The check as the SDK interceptor every test client carries: the
/// request the SDK serializes fails the test before it is sent.
#[tokio::test]
#[should_panic(expected = "AddTags: Tags[0].Value = \"text/plain; charset=utf-8\" breaks pattern")]
async fn the_interceptor_fails_the_test_on_a_request_aws_would_refuse() {
    use aws_sdk_elasticloadbalancingv2::types::Tag;
    let replay = Replay::new(vec![Answer::ok("AddTags", "")]);
    let provider = replayed(super::config(&[], Some("http://127.0.0.1:9")), &replay).await;
    let _ = provider
        .elb
        .add_tags()
        .resource_arns(
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/lbops-web/1",
        )
        .tags(
            Tag::builder()
                .key("lbops:content-type")
                .value("text/plain; charset=utf-8")
                .build(),
        )
        .send()
        .await;
}
