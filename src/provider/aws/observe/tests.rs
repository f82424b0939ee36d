//! Observe over answers recorded in the shape AWS sends them (the
//! examples of the ELBv2, EC2 and ACM API references): every list that
//! AWS pages is read to its last page, and ACM is asked for every key
//! type. moto never pages and lists every key type unasked, so only these
//! show it.

use super::Inventory;
use crate::provider::aws::testing::{config, replayed, Answer, Replay};

const ELB_NS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
const BALANCER: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/lbops-shop/50dc6c495c0c9188";
const HTTPS: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/lbops-shop/50dc6c495c0c9188/f2f7dc8efc522ab2";
const HTTP: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/lbops-shop/50dc6c495c0c9188/0467ef3c8400ae65";
const RULE_1: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/lbops-shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
const RULE_2: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/lbops-shop/50dc6c495c0c9188/f2f7dc8efc522ab2/3e2b6fc6a4c4b0a1";
const CERT_A: &str =
    "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012";
const CERT_B: &str =
    "arn:aws:acm:eu-west-1:123456789012:certificate/87654321-4321-4321-4321-210987654321";

/// An ELBv2 Query answer: `<{op}Response><{op}Result>{result}</…>`.
fn elb(operation: &'static str, result: &str) -> Answer {
    Answer::ok(
        operation,
        &format!(
            "<{operation}Response xmlns=\"{ELB_NS}\"><{operation}Result>{result}</{operation}Result>\
             <ResponseMetadata><RequestId>18e470d3-f39c-11e5-a53c-67205c0d10fd</RequestId></ResponseMetadata>\
             </{operation}Response>"
        ),
    )
}

fn tags(arn: &str, pairs: &[(&str, &str)]) -> String {
    let tags: String = pairs
        .iter()
        .map(|(k, v)| format!("<member><Key>{k}</Key><Value>{v}</Value></member>"))
        .collect();
    format!("<member><ResourceArn>{arn}</ResourceArn><Tags>{tags}</Tags></member>")
}

fn fixed_404() -> &'static str {
    "<member><Type>fixed-response</Type><Order>1</Order><FixedResponseConfig>\
     <StatusCode>404</StatusCode><ContentType>text/plain</ContentType></FixedResponseConfig></member>"
}

fn rule(arn: &str, priority: u32, path: &str) -> String {
    format!(
        "<member><RuleArn>{arn}</RuleArn><Priority>{priority}</Priority><IsDefault>false</IsDefault>\
         <Conditions><member><Field>path-pattern</Field><Values><member>{path}</member></Values>\
         <PathPatternConfig><Values><member>{path}</member></Values></PathPatternConfig></member></Conditions>\
         <Actions>{}</Actions></member>",
        fixed_404()
    )
}

fn certificate(arn: &str, name: &str, key_algorithm: &str) -> [Answer; 2] {
    [
        Answer::ok(
            "ListTagsForCertificate",
            &format!(r#"{{"Tags":[{{"Key":"lbops:id","Value":"certificate/{name}"}}]}}"#),
        ),
        Answer::ok(
            "DescribeCertificate",
            &format!(
                r#"{{"Certificate":{{"CertificateArn":"{arn}","DomainName":"shop.example.test","Serial":"1a:2b:3c","Type":"IMPORTED","Status":"ISSUED","KeyAlgorithm":"{key_algorithm}"}}}}"#
            ),
        ),
    ]
}

/// An account with two certificates over two pages of `ListCertificates`
/// (one ECDSA), and a balancer with two pages of listeners; its HTTPS
/// listener has two pages of certificates and two of rules.
fn paged_account() -> Vec<Answer> {
    let mut answers = vec![Answer::ok(
        "ListCertificates",
        &format!(
            r#"{{"CertificateSummaryList":[{{"CertificateArn":"{CERT_A}","DomainName":"shop.example.test","KeyAlgorithm":"EC_prime256v1","Type":"IMPORTED","Status":"ISSUED"}}],"NextToken":"AAEAAZ9lpPpage2"}}"#
        ),
    )];
    answers.extend(certificate(CERT_A, "shop", "EC_prime256v1"));
    answers.push(Answer::ok(
        "ListCertificates",
        &format!(
            r#"{{"CertificateSummaryList":[{{"CertificateArn":"{CERT_B}","DomainName":"api.example.test","KeyAlgorithm":"RSA_2048","Type":"IMPORTED","Status":"ISSUED"}}]}}"#
        ),
    ));
    answers.extend(certificate(CERT_B, "api", "RSA_2048"));
    answers.extend([
        elb("DescribeTargetGroups", "<TargetGroups/>"),
        elb(
            "DescribeLoadBalancers",
            &format!(
                "<LoadBalancers><member><LoadBalancerArn>{BALANCER}</LoadBalancerArn>\
                 <LoadBalancerName>lbops-shop</LoadBalancerName><Type>application</Type>\
                 <Scheme>internet-facing</Scheme><State><Code>active</Code></State><VpcId>vpc-1</VpcId>\
                 </member></LoadBalancers>"
            ),
        ),
        elb(
            "DescribeTags",
            &format!("<TagDescriptions>{}</TagDescriptions>", tags(BALANCER, &[("lbops:id", "loadbalancer/shop")])),
        ),
        Answer::ok(
            "DescribeAddresses",
            "<DescribeAddressesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId><addressesSet/></DescribeAddressesResponse>",
        ),
        elb(
            "DescribeListeners",
            &format!(
                "<Listeners><member><LoadBalancerArn>{BALANCER}</LoadBalancerArn><Protocol>HTTPS</Protocol>\
                 <Port>443</Port><ListenerArn>{HTTPS}</ListenerArn><SslPolicy>ELBSecurityPolicy-TLS13-1-2-2021-06</SslPolicy>\
                 <Certificates><member><CertificateArn>{CERT_A}</CertificateArn></member></Certificates>\
                 <DefaultActions>{}</DefaultActions></member></Listeners><NextMarker>bGlzdGVuZXJzLTI=</NextMarker>",
                fixed_404()
            ),
        ),
        elb(
            "DescribeListeners",
            &format!(
                "<Listeners><member><LoadBalancerArn>{BALANCER}</LoadBalancerArn><Protocol>HTTP</Protocol>\
                 <Port>80</Port><ListenerArn>{HTTP}</ListenerArn><DefaultActions>{}</DefaultActions></member></Listeners>",
                fixed_404()
            ),
        ),
        elb(
            "DescribeTags",
            &format!(
                "<TagDescriptions>{}{}</TagDescriptions>",
                tags(HTTPS, &[("lbops:name", "https")]),
                tags(HTTP, &[("lbops:name", "http")])
            ),
        ),
        elb(
            "DescribeListenerCertificates",
            &format!(
                "<Certificates><member><CertificateArn>{CERT_A}</CertificateArn><IsDefault>true</IsDefault></member>\
                 </Certificates><NextMarker>Y2VydHMtMg==</NextMarker>"
            ),
        ),
        elb(
            "DescribeListenerCertificates",
            &format!(
                "<Certificates><member><CertificateArn>{CERT_B}</CertificateArn><IsDefault>false</IsDefault></member></Certificates>"
            ),
        ),
        elb(
            "DescribeRules",
            &format!(
                "<Rules><member><RuleArn>{HTTPS}-default</RuleArn><Priority>default</Priority><IsDefault>true</IsDefault>\
                 <Conditions/><Actions>{}</Actions></member>{}</Rules><NextMarker>cnVsZXMtMg==</NextMarker>",
                fixed_404(),
                rule(RULE_1, 10, "/api/*")
            ),
        ),
        elb("DescribeRules", &format!("<Rules>{}</Rules>", rule(RULE_2, 20, "/static/*"))),
        elb(
            "DescribeTags",
            &format!(
                "<TagDescriptions>{}{}</TagDescriptions>",
                tags(RULE_1, &[("lbops:name", "api")]),
                tags(RULE_2, &[("lbops:name", "static")])
            ),
        ),
        elb(
            "DescribeRules",
            &format!(
                "<Rules><member><RuleArn>{HTTP}-default</RuleArn><Priority>default</Priority><IsDefault>true</IsDefault>\
                 <Conditions/><Actions>{}</Actions></member></Rules>",
                fixed_404()
            ),
        ),
    ]);
    answers
}

#[tokio::test]
async fn every_page_of_listeners_rules_and_listener_certificates_is_read() {
    let replay = Replay::new(paged_account());
    let provider = replayed(config(&["shop"], Some("http://127.0.0.1:9")), &replay).await;
    let inventory = Inventory::read(&provider).await.unwrap();
    assert_eq!(replay.left(), Vec::<&str>::new(), "answers never asked for");

    let shop = &inventory.balancers["shop"];
    let names: Vec<&str> = shop.listeners.keys().map(|n| n.as_str()).collect();
    assert_eq!(names, ["http", "https"], "the second page of listeners");
    let https = &shop.listeners["https"];
    assert_eq!(
        https.extra_certificates,
        [CERT_B],
        "the second page of certificates"
    );
    let rules: Vec<&str> = https.rules.values().map(String::as_str).collect();
    assert_eq!(rules, [RULE_1, RULE_2], "the second page of rules");

    // Each next page was asked for by the marker the previous one gave.
    let sent = replay.sent();
    for (action, marker) in [
        ("DescribeListeners", "bGlzdGVuZXJzLTI%3D"),
        ("DescribeListenerCertificates", "Y2VydHMtMg%3D%3D"),
        ("DescribeRules", "cnVsZXMtMg%3D%3D"),
    ] {
        assert!(
            sent.iter().any(|b| b.contains(&format!("Action={action}&"))
                && b.contains(&format!("Marker={marker}"))),
            "no {action} with Marker={marker} in {sent:#?}"
        );
    }
}

#[tokio::test]
async fn acm_is_asked_for_every_key_type_and_ecdsa_certificates_are_observed() {
    let replay = Replay::new(paged_account());
    let provider = replayed(config(&["shop"], Some("http://127.0.0.1:9")), &replay).await;
    let inventory = Inventory::read(&provider).await.unwrap();
    // Without `Includes.keyTypes`, ACM lists RSA_1024 and RSA_2048 only.
    let list: serde_json::Value = serde_json::from_str(&replay.sent()[0]).unwrap();
    let mut asked: Vec<&str> = list["Includes"]["keyTypes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    asked.sort_unstable();
    assert_eq!(
        asked,
        [
            "EC_prime256v1",
            "EC_secp384r1",
            "EC_secp521r1",
            "RSA_1024",
            "RSA_2048",
            "RSA_3072",
            "RSA_4096"
        ]
    );
    // Both pages: the ECDSA certificate of the first, and the second's.
    let names: Vec<&str> = inventory.certificates.keys().map(|n| n.as_str()).collect();
    assert_eq!(names, ["api", "shop"]);
    let second: serde_json::Value = serde_json::from_str(&replay.sent()[3]).unwrap();
    assert_eq!(second["NextToken"], "AAEAAZ9lpPpage2");
}

/// A certificate lbops replaced with a new import (its key type changed)
/// is observed under a name no catalog has, so the plan deletes it once
/// no listener uses it; it is never taken for the certificate it was.
#[tokio::test]
async fn a_replaced_certificate_is_observed_apart_for_the_plan_to_delete() {
    let replay = Replay::new(vec![
        Answer::ok(
            "ListCertificates",
            &format!(
                r#"{{"CertificateSummaryList":[{{"CertificateArn":"{CERT_A}","DomainName":"shop.example.test","KeyAlgorithm":"RSA_2048","Type":"IMPORTED","Status":"ISSUED"}}]}}"#
            ),
        ),
        Answer::ok(
            "ListTagsForCertificate",
            r#"{"Tags":[{"Key":"lbops:id","Value":"certificate/shop"},{"Key":"lbops:replaced","Value":"0123456789abcdef0123456789abcdef01234567"}]}"#,
        ),
        elb("DescribeTargetGroups", "<TargetGroups/>"),
        elb("DescribeLoadBalancers", "<LoadBalancers/>"),
        Answer::ok(
            "DescribeAddresses",
            "<DescribeAddressesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId><addressesSet/></DescribeAddressesResponse>",
        ),
    ]);
    let provider = replayed(config(&["shop"], Some("http://127.0.0.1:9")), &replay).await;
    let inventory = Inventory::read(&provider).await.unwrap();
    let names: Vec<&str> = inventory.certificates.keys().map(|n| n.as_str()).collect();
    assert_eq!(names, ["replaced-12345678-1234-1234-1234-123456789012"]);
    assert!(!inventory.state.certificates.contains_key("shop"));
}
