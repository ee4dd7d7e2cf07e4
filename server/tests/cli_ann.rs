//! `--ann` of `reco train` and `reco export`, `reco recommend --exact`: the approximate top-N
//! index is built when asked (or for large catalogs), recorded as format version 2, and
//! answers like the exact scan.
mod cli_common;

use cli_common::{ingest_shop, reco, stderr, stdout};
use serde_json::Value;

fn json_items(o: &std::process::Output) -> Vec<String> {
    assert!(o.status.success(), "{}", stderr(o));
    let v: Value = serde_json::from_str(&stdout(o)).unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn train_and_export_build_the_index_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ingest_shop(d, 80);
    // 150 items: `auto` leaves the catalog to exact scans.
    let o = reco(
        d,
        &[],
        &["train", "--features", "features", "--out", "auto.safetensors"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("ANN index"));
    let o = reco(
        d,
        &[],
        &[
            "train",
            "--features",
            "features",
            "--ann",
            "on",
            "--out",
            "ann.safetensors",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("ANN index: 22 lists"), "{}", stderr(&o));
    // `--exact` scans every item, as a file without an index; the index answers a full list
    // (its recall is measured in reco-core's tests: this random shop log has no structure).
    let ask = |file: &str, extra: &[&str]| {
        let mut args = vec!["recommend", "--model", file, "--user", "c3", "--json"];
        args.extend_from_slice(extra);
        json_items(&reco(d, &[], &args))
    };
    let exact = ask("ann.safetensors", &["--exact"]);
    assert_eq!(exact, ask("auto.safetensors", &[]));
    let approx = ask("ann.safetensors", &[]);
    assert_eq!(approx.len(), 10);
    assert_ne!(approx, exact);
    // int8 factors: a quarter of f32's bytes for the factors, the same top item.
    let o = reco(
        d,
        &[],
        &[
            "export",
            "--model",
            "ann.safetensors",
            "--out",
            "web/int8.safetensors",
            "--precision",
            "int8",
            "--ann",
            "off",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let int8 = ask("web/int8.safetensors", &[]);
    assert_eq!(int8.len(), 10);
    assert_eq!(int8[0], exact[0]);
    // Export: `on` builds an index (version 2 in index.json), `off` removes it (version 1).
    for (ann, version) in [("on", 2), ("off", 1)] {
        let out = format!("web/{ann}.safetensors");
        let o = reco(
            d,
            &[],
            &[
                "export",
                "--model",
                "ann.safetensors",
                "--out",
                &out,
                "--ann",
                ann,
                "--no-users",
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let index: Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("web/index.json")).unwrap()).unwrap();
        let entry = index["models"]
            .as_object()
            .unwrap()
            .values()
            .find(|m| m["file"] == format!("{ann}.safetensors"))
            .unwrap()
            .clone();
        assert_eq!(entry["format_version"], version);
        assert_eq!(entry["precision"], "f32");
        let items = json_items(&reco(
            d,
            &[],
            &["recommend", "--model", &out, "--items", "p1,p2", "--json"],
        ));
        assert_eq!(items.len(), 10);
    }
}
