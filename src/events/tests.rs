use serde_json::json;

use super::*;

const NOW: UnixTime = UnixTime(1_764_770_000);

fn parse(raw: Value) -> Result<Event, String> {
    Event::parse(raw, NOW)
}

#[test]
fn an_event_parses_with_an_openid_or_an_external_id() {
    let event = parse(json!({
        "id": "o-1", "openid": "oABC", "name": "order",
        "at": "2025-12-03T21:53:20+08:00", "props": {"amount": 300}
    }))
    .unwrap();
    assert_eq!(event.to, Addressee::OpenId(OpenId::parse("oABC").unwrap()));
    assert_eq!(event.at, NOW);
    assert_eq!(event.props["amount"], 300);
    let event = parse(json!({
        "id": 42, "external_id": "crm:4711", "name": "webinar.joined", "at": "2025-12-03T13:53:20Z"
    }))
    .unwrap();
    assert_eq!(event.id, "42");
    assert_eq!(
        event.to,
        Addressee::External(ExternalId::parse("crm:4711").unwrap())
    );
    assert!(event.props.is_empty());
}

#[test]
fn each_mistake_says_what_is_wrong() {
    let base =
        json!({"id": "e", "openid": "o1", "name": "order", "at": "2025-12-03T21:53:20+08:00"});
    let with = |key: &str, value: Value| {
        let mut raw = base.clone();
        raw[key] = value;
        parse(raw).unwrap_err()
    };
    let without = |key: &str| {
        let mut raw = base.clone();
        raw.as_object_mut().unwrap().remove(key);
        parse(raw).unwrap_err()
    };
    assert!(with("external_id", json!("crm:1")).contains("not both"));
    assert!(without("openid").contains("openid or external_id"));
    assert!(with("name", json!("has space")).starts_with("name:"));
    assert!(with("at", json!("2025-12-03 21:53:20")).contains("RFC 3339"));
    assert!(with("at", json!("2025-12-03T21:53:20")).contains("RFC 3339"));
    assert!(with("at", json!("2025-12-05T21:53:21+08:00")).contains("future"));
    assert!(
        parse({
            let mut raw = base.clone();
            raw["at"] = json!("2025-12-04T21:53:20+08:00");
            raw
        })
        .is_ok()
    );
    assert!(with("props", json!([1])).contains("object"));
    assert!(with("props", json!({"x": "y".repeat(MAX_PROPS_BYTES)})).contains("bytes"));
    assert!(with("id", json!("")).starts_with("id"));
    assert!(with("id", json!(["x"])).starts_with("id"));
    assert!(with("extra", json!(1)).contains("unknown field"));
    assert!(with("openid", json!("o 1")).starts_with("openid"));
}

#[test]
fn a_body_is_a_list_of_at_most_a_thousand_events() {
    assert_eq!(parse_batch(br#"{"events": [{}, 1]}"#).unwrap().len(), 2);
    assert!(matches!(
        parse_batch(br#"{"event": []}"#),
        Err(BatchError::Malformed(_))
    ));
    assert!(matches!(
        parse_batch(b"nope"),
        Err(BatchError::Malformed(_))
    ));
    let many = format!("{{\"events\": [{}]}}", vec!["{}"; MAX_EVENTS + 1].join(","));
    assert_eq!(
        parse_batch(many.as_bytes()),
        Err(BatchError::TooMany(MAX_EVENTS + 1))
    );
}

#[test]
fn a_parked_event_comes_back_as_it_was() {
    let event = parse(json!({
        "id": "p", "external_id": "crm:9", "name": "order", "at": "2025-12-03T21:53:20+08:00",
        "props": {"amount": "12.5"}
    }))
    .unwrap();
    let back = Event::unparked(&event.parked(), event.to.clone()).unwrap();
    assert_eq!(back, event);
    assert!(Event::unparked("{}", event.to).is_none());
}
