//! `Cooker::parse_recipe_variant` finalises what BitBake's `parseRecipe` (`bitbake -e`)
//! finalises: the recipe and the variants its `__ONLYFINALISE` names, not every
//! BBCLASSEXTEND entry.

use std::path::PathBuf;

use bb_data::{Cooker, CookerConfig, Evaluator};

/// A build directory and a layer whose recipe extends to `native`, to `nativesdk` and to
/// `missing`, a class that does not exist: creating that variant is an error.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bb-data-cooker-variants-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let files = [
        (
            "build/conf/bblayers.conf",
            "BBPATH = \"${TOPDIR}\"\nBBLAYERS = \"${TOPDIR}/../layer\"\n",
        ),
        ("layer/conf/layer.conf", "BBPATH .= \":${LAYERDIR}\"\n"),
        (
            "layer/conf/bitbake.conf",
            "OVERRIDES = \"class-${CLASS}\"\nCLASS = \"target\"\n",
        ),
        ("layer/classes/base.bbclass", ""),
        ("layer/classes/native.bbclass", "CLASS = \"native\"\n"),
        ("layer/classes/nativesdk.bbclass", "CLASS = \"nativesdk\"\n"),
        (
            "layer/r.bb",
            "PN = \"r\"\nBBCLASSEXTEND = \"native nativesdk missing\"\n",
        ),
    ];
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("scratch directory");
        std::fs::write(path, text).expect("scratch file");
    }
    dir
}

#[test]
fn only_the_wanted_variant_is_finalised() {
    let dir = scratch();
    let evaluator = Evaluator::new(None);
    let mut cooker = Cooker::new(
        &evaluator,
        CookerConfig {
            cwd: dir.join("build"),
            env: Vec::new(),
            tracking: false,
        },
    );
    let config = cooker
        .parse_base_configuration()
        .expect("base configuration");
    let recipe = dir.join("layer/r.bb");
    let err = cooker
        .parse_recipe(&config, &recipe, &[], "layer")
        .expect_err("the missing class's variant fails the whole recipe");
    assert!(err.to_string().contains("missing"), "{err}");
    for (name, pn, class) in [
        ("", "r", "target"),
        ("native", "r-native", "native"),
        ("nativesdk", "r-nativesdk", "nativesdk"),
    ] {
        let d = cooker
            .parse_recipe_variant(&config, &recipe, &[], "layer", name)
            .unwrap_or_else(|e| panic!("variant '{name}': {e}"))
            .unwrap_or_else(|| panic!("variant '{name}' exists"));
        assert_eq!(d.get_var_str("PN").expect("PN").as_deref(), Some(pn));
        assert_eq!(
            d.get_var_str("CLASS").expect("CLASS").as_deref(),
            Some(class)
        );
    }
    assert!(
        cooker
            .parse_recipe_variant(&config, &recipe, &[], "layer", "cross")
            .expect("no such variant is no error")
            .is_none()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
