//! `FindRequest`: a client's query as JSON, added to a `Find` with `apply`.

mod common;

use common::Fixture;
use forze_core::query::{Cursor, Filter, Op, Sort};
use forze_core::testing::{PRODUCT_SPEC, ProductCreate, watchdog};
use forze_core::{ErrorKind, FindRequest};

fn parse(json: &str) -> Result<FindRequest, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

#[test]
fn every_key_is_optional_and_unknown_keys_are_rejected() {
    assert_eq!(parse("{}").unwrap(), FindRequest::default());
    let request = parse(
        r#"{"filter": {"field": "price", "op": "lt", "value": 10},
            "sort": [{"field": "price", "order": "desc"}, {"field": "name"}],
            "limit": 20, "cursor": "abc"}"#,
    )
    .unwrap();
    assert_eq!(request.filter, Some(Filter::field("price", Op::Lt, 10)));
    assert_eq!(request.sort, [Sort::desc("price"), Sort::asc("name")]);
    assert_eq!(request.limit, Some(20));
    assert_eq!(request.cursor, Some(Cursor::from_token("abc")));
    let back = serde_json::to_string(&request).unwrap();
    assert_eq!(parse(&back).unwrap(), request);
    assert_eq!(
        serde_json::to_string(&FindRequest::default()).unwrap(),
        "{}"
    );

    let err = parse(r#"{"filters": {}}"#).unwrap_err();
    assert!(err.contains("unknown field `filters`"), "{err}");
    let err = parse(r#"{"filter": {"field": "price", "op": "like", "value": 1}}"#).unwrap_err();
    assert!(err.contains("unknown filter operator `like`"), "{err}");
    let err = parse(r#"{"limit": -1}"#).unwrap_err();
    assert!(err.contains("invalid value"), "{err}");
}

#[tokio::test]
async fn apply_adds_the_clients_filter_sort_and_limit_to_the_servers() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let docs = ctx.document().command(&PRODUCT_SPEC).unwrap();
        for (name, price) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5), ("f", 6)] {
            docs.create(ProductCreate {
                name: name.into(),
                price,
                note: None,
            })
            .await
            .unwrap();
        }
        let query = ctx.document().query(&PRODUCT_SPEC).unwrap();
        let mut request = parse(
            r#"{"filter": {"field": "price", "op": "ge", "value": 2},
                "sort": [{"field": "price", "order": "desc"}], "limit": 2}"#,
        )
        .unwrap();

        // the server's own condition holds too: the client cannot widen it
        let mut names = Vec::new();
        let mut pages = 0;
        loop {
            let page = query
                .find()
                .filter(Filter::field("price", Op::Le, 5))
                .apply(&request)
                .cursor(request.cursor.as_ref())
                .await
                .unwrap();
            assert!(page.items.len() <= 2, "the client's limit");
            names.extend(page.items.into_iter().map(|p| p.name));
            pages += 1;
            match page.next {
                // through JSON, as a client sends it back
                Some(next) => {
                    let token = serde_json::to_string(&next).unwrap();
                    request.cursor = Some(serde_json::from_str(&token).unwrap());
                }
                None => break,
            }
        }
        assert_eq!(names, ["e", "d", "c", "b"]);
        assert_eq!(pages, 2);

        // sort keys after the server's, limit replaced only when given
        let request = parse(r#"{"sort": [{"field": "name", "order": "desc"}]}"#).unwrap();
        let all = query
            .find()
            .sort(Sort::asc("price"))
            .limit(3)
            .apply(&request)
            .all()
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|p| p.price).collect::<Vec<_>>(),
            [1, 2, 3],
            "the server's key comes first, the server's limit stays"
        );

        // a filter that does not fit the document is the client's mistake
        let bad =
            parse(r#"{"filter": {"field": "price", "op": "contains", "value": "1"}}"#).unwrap();
        let err = query.find().apply(&bad).count().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(
            err.to_string()
                .contains("operator `contains` does not fit field `price`"),
            "{err}"
        );
    })
    .await;
}
