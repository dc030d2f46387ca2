//! The plugins compiled into this binary, selected by cargo features
//! (`builtin-*`, forwarded by the CLI crate), handed to the plugin host's
//! registry by [`install`].

use eqpipe_plugin_host::registry::Builtin;

/// Installs the built-ins table in the registry (idempotent; every entry
/// point calls it before resolving a plugin).
pub fn install() {
    eqpipe_plugin_host::registry::install_builtins(table);
}

/// One built-in, present when its cargo feature is on.
macro_rules! builtin {
    ($v:ident, $feature:literal, $name:literal, $krate:ident) => {
        #[cfg(feature = $feature)]
        $v.push(Builtin {
            name: $name,
            descriptor: $krate::descriptor,
        });
    };
}

/// The plugins compiled into this binary (selected by cargo features).
#[allow(clippy::vec_init_then_push)]
pub fn table() -> Vec<Builtin> {
    #[allow(unused_mut)]
    let mut v: Vec<Builtin> = Vec::new();
    builtin!(v, "builtin-ons-census", "ons-census", eqpipe_ons_census);
    builtin!(v, "builtin-geography", "geography", eqpipe_geography);
    builtin!(v, "builtin-deprivation", "deprivation", eqpipe_deprivation);
    builtin!(v, "builtin-nomis-api", "nomis-api", eqpipe_nomis_api);
    builtin!(v, "builtin-ons-api", "ons-api", eqpipe_ons_api);
    builtin!(v, "builtin-workforce", "workforce", eqpipe_workforce);
    builtin!(
        v,
        "builtin-workforce-aggregate",
        "workforce-aggregate",
        eqpipe_workforce_aggregate
    );
    builtin!(v, "builtin-spend", "spend", eqpipe_spend);
    builtin!(v, "builtin-grants", "grants", eqpipe_grants);
    builtin!(v, "builtin-fingertips", "fingertips", eqpipe_fingertips);
    builtin!(v, "builtin-boundaries", "boundaries", eqpipe_boundaries);
    builtin!(
        v,
        "builtin-gender-pay-gap-service",
        "gender-pay-gap-service",
        eqpipe_gender_pay_gap_service
    );
    builtin!(
        v,
        "builtin-supplier-register",
        "supplier-register",
        eqpipe_supplier_register
    );
    builtin!(
        v,
        "builtin-social-value",
        "social-value",
        eqpipe_social_value
    );
    builtin!(v, "builtin-vcse-grants", "vcse-grants", eqpipe_vcse_grants);
    builtin!(
        v,
        "builtin-pay-gap-benchmark",
        "pay-gap-benchmark",
        eqpipe_pay_gap_benchmark
    );
    builtin!(
        v,
        "builtin-health-inequalities",
        "health-inequalities",
        eqpipe_health_inequalities
    );
    builtin!(v, "builtin-engagement", "engagement", eqpipe_engagement);
    builtin!(
        v,
        "builtin-engagement-reach",
        "engagement-reach",
        eqpipe_engagement_reach
    );
    builtin!(
        v,
        "builtin-engagement-answers",
        "engagement-answers",
        eqpipe_engagement_answers
    );
    builtin!(v, "builtin-recruitment", "recruitment", eqpipe_recruitment);
    builtin!(
        v,
        "builtin-service-usage",
        "service-usage",
        eqpipe_service_usage
    );
    builtin!(
        v,
        "builtin-community-profile",
        "community-profile",
        eqpipe_community_profile
    );
    builtin!(v, "builtin-pay-gap", "pay-gap", eqpipe_pay_gap);
    builtin!(
        v,
        "builtin-workforce-representation",
        "workforce-representation",
        eqpipe_workforce_representation
    );
    builtin!(
        v,
        "builtin-deprivation-profile",
        "deprivation-profile",
        eqpipe_deprivation_profile
    );
    builtin!(
        v,
        "builtin-workforce-flows",
        "workforce-flows",
        eqpipe_workforce_flows
    );
    builtin!(
        v,
        "builtin-service-equity",
        "service-equity",
        eqpipe_service_equity
    );
    builtin!(
        v,
        "builtin-workforce-benchmark",
        "workforce-benchmark",
        eqpipe_workforce_benchmark
    );
    builtin!(v, "builtin-hate-crime", "hate-crime", eqpipe_hate_crime);
    builtin!(
        v,
        "builtin-hate-crime-trends",
        "hate-crime-trends",
        eqpipe_hate_crime_trends
    );
    v
}
