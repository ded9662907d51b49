//! Route: which rules does an event match? All enabled rules' patterns are
//! compiled into one [`event_pattern::Matcher`], so routing costs grow with
//! the event, not with the number of rules.

use event_pattern::{Matcher, MatcherBuilder, Pattern};
use rectify_model::{Event, Rule};

/// A rule whose pattern does not compile.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternProblem {
    pub rule_id: String,
    pub error: event_pattern::Error,
}

pub struct Router {
    rules: Vec<Rule>,
    matcher: Matcher,
}

impl Router {
    /// Compiles the enabled rules. Every broken pattern is reported.
    pub fn new(rules: Vec<Rule>) -> Result<Router, Vec<PatternProblem>> {
        Self::build(rules, None)
    }

    fn build(rules: Vec<Rule>, budget: Option<u64>) -> Result<Router, Vec<PatternProblem>> {
        let mut builder = MatcherBuilder::new();
        if let Some(steps) = budget {
            builder.set_step_budget(steps);
        }
        let mut problems = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            match Pattern::from_value(&rule.pattern) {
                Ok(pattern) if rule.enabled => builder.add(index, &pattern),
                Ok(_) => {}
                Err(error) => problems.push(PatternProblem {
                    rule_id: rule.id.clone(),
                    error,
                }),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Router {
            rules,
            matcher: builder.build(),
        })
    }

    /// Like [`Router::new`], with the matcher's step budget set (tests).
    pub fn with_step_budget(rules: Vec<Rule>, steps: u64) -> Result<Router, Vec<PatternProblem>> {
        Self::build(rules, Some(steps))
    }

    /// The rules the event matches, in the order they were configured.
    /// Matching is linear in the event; should an event still exhaust the
    /// matcher's step budget (a backstop), the matches found so far are
    /// kept (each a real match) and the event is logged, so one event
    /// cannot hold a worker.
    pub fn route<'a>(&'a self, event: &Event) -> Vec<&'a Rule> {
        let mut ids = Vec::new();
        // Security Hub findings without a consolidated control id are
        // matched with the one derived from their standard's id.
        let body = event.routing_body();
        if let Err(e) = self.matcher.try_matches_into(&body, &mut ids) {
            tracing::warn!(event = %event.id, error = %e, "matching stopped at the step budget; only the rules matched so far apply");
        }
        ids.into_iter().map(|i| &self.rules[i]).collect()
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(id: &str, pattern: serde_json::Value, enabled: bool) -> Rule {
        Rule {
            id: id.into(),
            description: String::new(),
            controls: vec![],
            pattern,
            action: "a".into(),
            params: json!({}),
            mode: None,
            notify: vec![],
            enabled,
        }
    }

    fn event(body: serde_json::Value) -> Event {
        Event {
            id: "e".into(),
            source: String::new(),
            detail_type: String::new(),
            account: String::new(),
            region: String::new(),
            time: String::new(),
            resources: vec![],
            body,
            parsed: Default::default(),
        }
    }

    #[test]
    fn routes_to_every_matching_enabled_rule() {
        let router = Router::new(vec![
            rule(
                "s3",
                json!({"detail": {"findings": {"Compliance": {"SecurityControlId": ["S3.2"]}}}}),
                true,
            ),
            rule("any-sh", json!({"source": ["aws.securityhub"]}), true),
            rule("off", json!({"source": ["aws.securityhub"]}), false),
            rule(
                "ec2",
                json!({"detail": {"findings": {"Compliance": {"SecurityControlId": ["EC2.13"]}}}}),
                true,
            ),
        ])
        .unwrap();
        let e = event(json!({
            "source": "aws.securityhub",
            "detail": {"findings": [{"Compliance": {"SecurityControlId": "S3.2"}}]}
        }));
        let ids: Vec<&str> = router.route(&e).iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["s3", "any-sh"]);
    }

    #[test]
    fn every_broken_pattern_is_reported() {
        let problems = Router::new(vec![
            rule("a", json!({"source": "not-a-list"}), true),
            rule("b", json!({"source": ["ok"]}), true),
            rule("c", json!({"source": [{"bogus-operator": 1}]}), true),
        ])
        .err()
        .unwrap();
        let ids: Vec<&str> = problems.iter().map(|p| p.rule_id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
    }

    #[test]
    fn an_event_over_the_step_budget_keeps_only_real_matches() {
        let rules = vec![rule(
            "many",
            json!({"detail": {"a": [{"prefix": "x"}], "b": [{"prefix": "y"}]}}),
            true,
        )];
        let big = event(json!({"detail": {
            "a": (0..500).map(|i| format!("q{i}")).collect::<Vec<_>>(),
            "b": (0..500).map(|i| format!("r{i}")).collect::<Vec<_>>(),
        }}));
        let tight = Router::with_step_budget(rules.clone(), 10).unwrap();
        assert!(tight.route(&big).is_empty());
        let fits = event(json!({"detail": {"a": ["xa"], "b": ["yb"]}}));
        let roomy = Router::with_step_budget(rules, 10_000).unwrap();
        assert_eq!(roomy.route(&fits).len(), 1);
    }
}
