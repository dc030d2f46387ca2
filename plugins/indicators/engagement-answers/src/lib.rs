//! `engagement-answers`: each question's agreement in a consultation or
//! survey, unweighted and weighted by raking to the consulted area's
//! Census 2021 margins, with the effective sample size, the design effect
//! and an interval that allows for the weighting. The method, the options
//! and the Census reading are `engagement-reach`'s (one indicator writes
//! one dataset, so the two are two plugins over one computation); see its
//! documentation.

use eqpipe_engagement_reach::{EngagementReach, Options, Output};
use eqpipe_plugin_sdk::prelude::*;

/// The plugin.
pub struct EngagementAnswers {
    inner: EngagementReach,
}

impl IndicatorPlugin for EngagementAnswers {
    type Options = Options;

    fn manifest() -> Manifest {
        Manifest::indicator("engagement-answers", env!("CARGO_PKG_VERSION"))
            .description(
                "A consultation's answers, unweighted and raked to the area's Census margins",
            )
            .consumes("engagement_respondents")
            .consumes("engagement_answers")
            .consumes("census_counts")
            .consumes_optional("geography_lookup")
            .produces("engagement_estimates")
    }

    fn new(options: Options, _ctx: &Context) -> Result<Self, PluginError> {
        Ok(EngagementAnswers {
            inner: EngagementReach::with(options),
        })
    }

    fn run(&mut self, ctx: &Context) -> Result<(), PluginError> {
        self.inner.compute(ctx, Output::Estimates)
    }
}

eqpipe_plugin_sdk::export_plugin!(indicator: EngagementAnswers);
