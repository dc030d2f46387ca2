//! The plugins compiled into this binary, selected by cargo features
//! (`builtin-*`, forwarded by the CLI crate), handed to the plugin host's
//! registry by [`install`].

use eqpipe_plugin_host::registry::Builtin;

/// Installs the built-ins table in the registry (idempotent; every entry
/// point calls it before resolving a plugin).
pub fn install() {
    eqpipe_plugin_host::registry::install_builtins(table);
}

/// The plugins compiled into this binary (selected by cargo features).
#[allow(clippy::vec_init_then_push)]
pub fn table() -> Vec<Builtin> {
    #[allow(unused_mut)]
    let mut v: Vec<Builtin> = Vec::new();
    #[cfg(feature = "builtin-ons-census")]
    v.push(Builtin {
        name: "ons-census",
        descriptor: eqpipe_ons_census::descriptor,
    });
    #[cfg(feature = "builtin-geography")]
    v.push(Builtin {
        name: "geography",
        descriptor: eqpipe_geography::descriptor,
    });
    #[cfg(feature = "builtin-deprivation")]
    v.push(Builtin {
        name: "deprivation",
        descriptor: eqpipe_deprivation::descriptor,
    });
    #[cfg(feature = "builtin-nomis-api")]
    v.push(Builtin {
        name: "nomis-api",
        descriptor: eqpipe_nomis_api::descriptor,
    });
    #[cfg(feature = "builtin-ons-api")]
    v.push(Builtin {
        name: "ons-api",
        descriptor: eqpipe_ons_api::descriptor,
    });
    #[cfg(feature = "builtin-workforce")]
    v.push(Builtin {
        name: "workforce",
        descriptor: eqpipe_workforce::descriptor,
    });
    #[cfg(feature = "builtin-workforce-aggregate")]
    v.push(Builtin {
        name: "workforce-aggregate",
        descriptor: eqpipe_workforce_aggregate::descriptor,
    });
    #[cfg(feature = "builtin-spend")]
    v.push(Builtin {
        name: "spend",
        descriptor: eqpipe_spend::descriptor,
    });
    #[cfg(feature = "builtin-grants")]
    v.push(Builtin {
        name: "grants",
        descriptor: eqpipe_grants::descriptor,
    });
    #[cfg(feature = "builtin-supplier-register")]
    v.push(Builtin {
        name: "supplier-register",
        descriptor: eqpipe_supplier_register::descriptor,
    });
    #[cfg(feature = "builtin-social-value")]
    v.push(Builtin {
        name: "social-value",
        descriptor: eqpipe_social_value::descriptor,
    });
    #[cfg(feature = "builtin-vcse-grants")]
    v.push(Builtin {
        name: "vcse-grants",
        descriptor: eqpipe_vcse_grants::descriptor,
    });
    #[cfg(feature = "builtin-recruitment")]
    v.push(Builtin {
        name: "recruitment",
        descriptor: eqpipe_recruitment::descriptor,
    });
    #[cfg(feature = "builtin-service-usage")]
    v.push(Builtin {
        name: "service-usage",
        descriptor: eqpipe_service_usage::descriptor,
    });
    #[cfg(feature = "builtin-community-profile")]
    v.push(Builtin {
        name: "community-profile",
        descriptor: eqpipe_community_profile::descriptor,
    });
    #[cfg(feature = "builtin-pay-gap")]
    v.push(Builtin {
        name: "pay-gap",
        descriptor: eqpipe_pay_gap::descriptor,
    });
    #[cfg(feature = "builtin-workforce-representation")]
    v.push(Builtin {
        name: "workforce-representation",
        descriptor: eqpipe_workforce_representation::descriptor,
    });
    #[cfg(feature = "builtin-deprivation-profile")]
    v.push(Builtin {
        name: "deprivation-profile",
        descriptor: eqpipe_deprivation_profile::descriptor,
    });
    #[cfg(feature = "builtin-workforce-flows")]
    v.push(Builtin {
        name: "workforce-flows",
        descriptor: eqpipe_workforce_flows::descriptor,
    });
    #[cfg(feature = "builtin-service-equity")]
    v.push(Builtin {
        name: "service-equity",
        descriptor: eqpipe_service_equity::descriptor,
    });
    #[cfg(feature = "builtin-workforce-benchmark")]
    v.push(Builtin {
        name: "workforce-benchmark",
        descriptor: eqpipe_workforce_benchmark::descriptor,
    });
    v
}

#[cfg(test)]
mod tests {
    use eqpipe_plugin_host::registry::builtin;

    #[test]
    fn every_builtin_loads_and_is_named_as_registered() {
        super::install();
        for b in super::table() {
            let p = builtin(b.name).unwrap();
            assert_eq!(p.manifest.name, b.name);
        }
    }
}
