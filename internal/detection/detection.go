// Package detection is the contract between Warden's detectors (the stream analyzer, the
// extraction detector, the scanners' rate detectors) and the rules that turn their findings into
// alerts: one Detection record, and a registry that documents, for every kind a detector emits,
// the statistics it reports and the named values it carries with their units.
//
// The rules loader checks every rule that selects detections against this registry (a rule that
// reads detection.values['baseline'] from a kind that has no such value is refused at load with
// its file:line), and a test in the rules package fails when a registered kind has no built-in
// rule. A detector that adds a kind or a value adds it here first.
package detection

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// Detection is one finding of a stream detector, the input of the rules stage.
//
// Conventions: Value is the observed statistic (named by Statistic), Threshold the limit the
// detector applied, Values the named supporting figures listed in the kind's Schema. A detector
// that fired for a condition reports the same identity (Kind, Model, Version, Environment,
// Consumer, Feature, Statistic) with Recovered set once the condition has cleared, so that the
// alert it raised can resolve.
type Detection struct {
	Kind        string             `json:"kind"`
	Model       string             `json:"model,omitempty"`
	Version     string             `json:"version,omitempty"`
	Environment string             `json:"environment,omitempty"`
	Consumer    string             `json:"consumer,omitempty"`
	Time        time.Time          `json:"time"`
	Feature     string             `json:"feature,omitempty"`
	Statistic   string             `json:"statistic,omitempty"`
	Value       float64            `json:"value"`
	Threshold   float64            `json:"threshold,omitempty"`
	Values      map[string]float64 `json:"values,omitempty"`
	Windows     string             `json:"windows,omitempty"`
	BaselineID  string             `json:"baseline_id,omitempty"`
	EventIDs    []string           `json:"event_ids,omitempty"`
	Message     string             `json:"message,omitempty"`
	// Recovered marks the all-clear of an earlier detection with the same identity.
	Recovered bool `json:"recovered,omitempty"`
}

// Kinds emitted by Warden's detectors.
const (
	KindDrift           = "drift"
	KindPredictionDrift = "prediction_drift"
	KindLabelDrift      = "label_drift"
	KindConceptDrift    = "concept_drift"
	KindDatasetDrift    = "dataset_drift"
	KindFairness        = "fairness"
	KindLatency         = "latency"
	KindErrorRate       = "error_rate"
	KindRefusalRate     = "refusal_rate"
	KindVolume          = "volume"
	KindNewConsumer     = "new_consumer"
	KindShadowAI        = "shadow_ai"
	KindCostSpike       = "cost_spike"
	KindBaseline        = "baseline_frozen"
	KindModelExtraction = "model_extraction"
	KindSystemDown      = "system_down"
	// Active assessment (internal/probe): verdicts of Warden's own adversarial probes.
	KindProbeRegression = "probe_regression"
	KindProbePassRate   = "probe_pass_rate"
	KindProbeNewFailure = "probe_new_failure"
	// Output quality (internal/quality): judge scores of live answers and users' ratings.
	KindQualityDrop  = "quality_drop"
	KindFeedbackDrop = "feedback_drop"
	// Audit log (internal/app witnessing): a witness refused a checkpoint of the audit log.
	KindAuditTamper = "audit_tamper_suspected"
)

// Field is one named value of a kind (a key of Detection.Values).
type Field struct {
	Name string `json:"name"`
	Type string `json:"type"` // number (all values are float64)
	Unit string `json:"unit"` // ms, usd, ratio, count, score, ...
	Doc  string `json:"doc"`
	// Optional: the detector omits the value when it cannot compute it (e.g. no labels yet).
	Optional bool `json:"optional,omitempty"`
}

// Schema documents one detection kind.
type Schema struct {
	Kind    string `json:"kind"`
	Emitter string `json:"emitter"` // the package that emits it
	Doc     string `json:"doc"`
	// Statistics lists the values Detection.Statistic takes for this kind; Value is in ValueUnit.
	Statistics []string `json:"statistics"`
	ValueUnit  string   `json:"value_unit"`
	// Feature reports whether Detection.Feature is set (drift: the feature; fairness: the
	// protected attribute).
	Feature bool `json:"feature,omitempty"`
	// Consumer reports whether Detection.Consumer is set.
	Consumer bool    `json:"consumer,omitempty"`
	Values   []Field `json:"values"`
	// Recovers reports whether the detector emits Recovered when the condition clears.
	Recovers bool `json:"recovers,omitempty"`
	// OneShot, for a kind that does not recover, says why: it reports an event that happened
	// (a first use, an attack window), not a condition that clears, so its alert waits for an
	// analyst's resolve (with a reason: false_positive, benign, true_positive).
	OneShot string `json:"one_shot,omitempty"`
	// CoveredBy names the built-in rule that alerts on the same condition from the events
	// themselves (so a detection rule would only duplicate its alert), when there is one.
	CoveredBy string `json:"covered_by,omitempty"`
	// Informational kinds record a state change, not a problem: no rule is expected.
	Informational bool `json:"informational,omitempty"`
}

// HasValue reports whether the kind carries the named value.
func (s Schema) HasValue(name string) bool {
	return slices.ContainsFunc(s.Values, func(f Field) bool { return f.Name == name })
}

// ValueNames lists the kind's value names, sorted.
func (s Schema) ValueNames() []string {
	out := make([]string, 0, len(s.Values))
	for _, f := range s.Values {
		out = append(out, f.Name)
	}
	sort.Strings(out)
	return out
}

func num(name, unit, doc string) Field {
	return Field{Name: name, Type: "number", Unit: unit, Doc: doc}
}

func opt(name, unit, doc string) Field {
	f := num(name, unit, doc)
	f.Optional = true
	return f
}

// driftStatistics are the per-feature drift statistics the analyzer can fire on.
var driftStatistics = []string{"psi", "ks_d", "js_distance", "wasserstein", "chi2_p"}

func driftValues() []Field {
	return []Field{
		num("psi", "index", "population stability index against the baseline (threshold 0.2)"),
		num("js_distance", "distance", "Jensen–Shannon distance, natural log (threshold 0.1)"),
		num("js_divergence", "divergence", "Jensen–Shannon divergence"),
		num("js_distance_base2", "distance", "Jensen–Shannon distance, base 2"),
		opt("ks_d", "statistic", "two-sample Kolmogorov–Smirnov D (numeric features; threshold 0.1)"),
		opt("ks_p", "p-value", "Kolmogorov–Smirnov p-value (numeric features)"),
		opt("wasserstein", "feature units", "Wasserstein-1 distance (numeric features; threshold baseline + 2σ)"),
		opt("chi2", "statistic", "χ² statistic (categorical features)"),
		opt("chi2_p", "p-value", "χ² p-value (categorical features; fires below the configured p)"),
	}
}

var registry = []Schema{
	{Kind: KindDrift, Emitter: "internal/analyze", Doc: "an input feature's distribution in the current window moved away from the frozen baseline",
		Statistics: driftStatistics, ValueUnit: "the statistic's own unit", Feature: true, Values: driftValues(), Recovers: true},
	{Kind: KindPredictionDrift, Emitter: "internal/analyze", Doc: "the distribution of predictions moved away from the baseline",
		Statistics: driftStatistics, ValueUnit: "the statistic's own unit", Feature: true, Values: driftValues(), Recovers: true},
	{Kind: KindLabelDrift, Emitter: "internal/analyze", Doc: "the distribution of ground-truth labels moved away from the baseline",
		Statistics: driftStatistics, ValueUnit: "the statistic's own unit", Feature: true, Values: driftValues(), Recovers: true},
	{Kind: KindDatasetDrift, Emitter: "internal/analyze", Doc: "a large share of features drifted together",
		Statistics: []string{"drift_share"}, ValueUnit: "ratio", Recovers: true,
		Values: []Field{num("drifted", "count", "features that drifted"), num("features", "count", "features evaluated")}},
	{Kind: KindConceptDrift, Emitter: "internal/analyze", Doc: "accuracy on labelled feedback fell below the baseline accuracy minus 0.05",
		Statistics: []string{"accuracy"}, ValueUnit: "ratio", Recovers: true,
		Values: []Field{num("baseline_accuracy", "ratio", "accuracy of the baseline window"), num("labels", "count", "labels in the current window")}},
	{Kind: KindFairness, Emitter: "internal/analyze", Doc: "a fairness metric between groups of a protected attribute passed its threshold",
		Statistics: []string{"disparate_impact", "demographic_parity", "equalized_odds", "calibration"}, ValueUnit: "ratio (disparate impact, parity) or absolute gap (equalized odds, calibration)",
		Feature: true, Recovers: true,
		Values: []Field{
			opt("demographic_parity_ratio", "ratio", "lowest / highest positive rate"),
			opt("demographic_parity_min_max", "ratio", "min/max parity"),
			opt("disparate_impact", "ratio", "unprivileged / privileged positive rate (four-fifths rule: 0.8)"),
			opt("delta_tpr", "ratio", "largest true-positive-rate gap between groups"),
			opt("delta_fpr", "ratio", "largest false-positive-rate gap between groups"),
			opt("calibration_gap", "ratio", "largest gap between predicted score and observed rate"),
		}},
	{Kind: KindLatency, Emitter: "internal/analyze", Doc: "P95 latency over 5 minutes is above twice the baseline P95",
		Statistics: []string{"latency_p95_ms"}, ValueUnit: "ms", Recovers: true,
		Values: []Field{num("baseline_p95_ms", "ms", "P95 latency of the frozen baseline"), num("requests", "count", "requests in the 5-minute window")}},
	{Kind: KindErrorRate, Emitter: "internal/analyze", Doc: "more than 5% of requests failed over 5 minutes (at least 20 requests)",
		Statistics: []string{"error_rate"}, ValueUnit: "ratio", Recovers: true, CoveredBy: "warden.ops.error_rate",
		Values: []Field{num("requests", "count", "requests in the 5-minute window"), num("errors", "count", "failed requests in the window")}},
	{Kind: KindRefusalRate, Emitter: "internal/analyze", Doc: "the share of outputs that refuse over 5 minutes is above the baseline rate (at least 20 requests)",
		Statistics: []string{"refusal_rate"}, ValueUnit: "ratio", Recovers: true,
		Values: []Field{num("baseline_rate", "ratio", "refusal rate of the frozen baseline"), num("requests", "count", "requests in the 5-minute window"),
			num("refusals", "count", "refusals in the window")}},
	{Kind: KindVolume, Emitter: "internal/analyze", Doc: "hourly request volume of a model or consumer is far from its hour-of-week median",
		Statistics: []string{"robust_z_hour_of_week"}, ValueUnit: "robust z-score (negative for drops)", Consumer: true, Recovers: true,
		Values: []Field{num("count", "count", "requests in the hour"), num("median", "count", "hour-of-week median of earlier weeks"), num("scale", "count", "robust scale (MAD)")}},
	{Kind: KindNewConsumer, Emitter: "internal/analyze", Doc: "a consumer used a model for the first time after the model's baseline was frozen",
		Statistics: []string{""}, ValueUnit: "none", Consumer: true, CoveredBy: "warden.sec.new_consumer",
		OneShot: "a first use happened once and cannot un-happen: an analyst confirms the consumer (or revokes its key) and resolves"},
	{Kind: KindShadowAI, Emitter: "internal/analyze", Doc: "traffic to a model missing from the inventory, or from an unregistered consumer",
		Statistics: []string{"model_not_in_inventory", "unregistered_consumer"}, ValueUnit: "none", Consumer: true,
		OneShot: "the fix is a decision (register the model or consumer, or block it), not traffic stopping; the analyzer repeats it at most once a day while the traffic goes on"},
	{Kind: KindCostSpike, Emitter: "internal/analyze", Doc: "today's spend on a model is above 150% of its trailing 7-day daily average",
		Statistics: []string{"daily_cost_ratio"}, ValueUnit: "ratio (today / trailing average)", Recovers: true,
		Values: []Field{num("today_usd", "usd", "spend so far today (UTC)"), num("trailing_daily_avg_usd", "usd", "average daily spend of the trailing 7 days")}},
	{Kind: KindBaseline, Emitter: "internal/analyze", Doc: "a baseline was frozen (information, not a problem)",
		Statistics: []string{""}, ValueUnit: "events in the baseline", Informational: true},
	{Kind: KindModelExtraction, Emitter: "internal/analyze/extraction", Doc: "a consumer's querying looks like model extraction",
		Statistics: []string{"extraction_score"}, ValueUnit: "score", Consumer: true,
		OneShot: "it scores a closed window whose answers were already returned: a quiet next window does not undo a copy, so an analyst decides (suspend the key, resolve)",
		Values: []Field{
			num("queries", "count", "queries in the window"), num("distinct_ratio", "ratio", "distinct inputs / queries"),
			num("entropy", "bits", "input token entropy"), num("near_duplicate_ratio", "ratio", "near-duplicate (perturbed) inputs / queries"),
			num("tokens", "count", "tokens sent"), num("coverage", "ratio", "input-space coverage"),
			num("z_volume", "z-score", "volume against the consumer population"), num("z_diversity", "z-score", "diversity against the population"),
			num("z_probing", "z-score", "systematic probing against the population"),
		}},
	{Kind: KindProbeRegression, Emitter: "internal/probe", Doc: "a probe the model resisted at its previous run now succeeds against it (Feature: the probe family)",
		Statistics: []string{"pass_rate"}, ValueUnit: "ratio (the family's pass rate after this verdict)", Feature: true,
		OneShot: "a change for the worse between two runs, to be explained; the family's pass rate (probe_pass_rate) is the condition that recovers",
		Values:  []Field{num("resisted_before", "flag", "1: the probe's previous verdict was resisted")}},
	{Kind: KindProbePassRate, Emitter: "internal/probe", Doc: "a probe family's pass rate (latest verdict of each of its probes) fell below the model's probes.pass_rate",
		Statistics: []string{"pass_rate"}, ValueUnit: "ratio", Feature: true, Recovers: true,
		Values: []Field{num("resisted_before", "flag", "1: the probe of this verdict was resisted before")}},
	{Kind: KindProbeNewFailure, Emitter: "internal/probe", Doc: "a probe family that never failed against the model now fails",
		Statistics: []string{"pass_rate"}, ValueUnit: "ratio (the family's pass rate after this verdict)", Feature: true,
		OneShot: "a first failure happened once; the family's pass rate (probe_pass_rate) is the condition that recovers",
		Values:  []Field{num("resisted_before", "flag", "1: the probe of this verdict was resisted before")}},
	{Kind: KindQualityDrop, Emitter: "internal/quality", Doc: "the quality judge's mean relevance or faithfulness over the recent window fell below the model's baseline by more than quality.drop (Feature: the score)",
		Statistics: []string{"mean"}, ValueUnit: "score 0..1", Feature: true, Recovers: true,
		Values: []Field{num("baseline", "score", "mean of the model's first scores"), num("drop", "score", "the configured alerting drop")}},
	{Kind: KindFeedbackDrop, Emitter: "internal/quality", Doc: "users' mean rating (-1/0/1 as 0/0.5/1) over the recent window fell below the model's baseline by more than quality.drop",
		Statistics: []string{"mean"}, ValueUnit: "score 0..1", Feature: true, Recovers: true,
		Values: []Field{num("baseline", "score", "mean of the model's first ratings"), num("drop", "score", "the configured alerting drop")}},
	{Kind: KindAuditTamper, Emitter: "internal/app (witnessing)", Doc: "a witness refused a checkpoint of the audit log: it cosigned a different root at that size (a fork), the consistency proof from its size does not hold, it cosigned a larger tree (a rollback), or it does not trust the log's key (Feature: the witness; Value: the refused checkpoint's size; Threshold: the witness's size)",
		Statistics: []string{"witness_refused"}, ValueUnit: "entries (checkpoint size)", Feature: true,
		OneShot: "a refused checkpoint is evidence of a fork, a rollback or a changed key that does not heal by itself: an operator investigates, then resolves",
		Values:  []Field{num("witness_size", "count", "the size the witness cosigned last, 0 if unknown"), num("http_status", "status", "the witness's HTTP answer (403, 404, 409, 422; 0 for a rollback found by the client)")}},
	{Kind: KindSystemDown, Emitter: "internal/analyze", Doc: "a model whose traffic arrived live and steadily (events in at least 10 of 15 minutes, 30 or more) has sent no event for analysis.system_down_after (default 5m), in an hour of the week that is not normally quiet; recovers with the model's next live event (failing requests are the event rule warden.ops.system_down)",
		Statistics: []string{"silence_minutes"}, ValueUnit: "minutes without an event", Recovers: true,
		Values: []Field{opt("requests_before", "count", "events in the 15 minutes before the silence"),
			opt("active_minutes", "count", "minutes with traffic in those 15"),
			opt("maintenance", "flag", "1 during planned maintenance (set by an external health checker)")}},
}

// Schemas returns every registered kind, sorted by kind.
func Schemas() []Schema {
	out := slices.Clone(registry)
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// Lookup returns the schema of a kind.
func Lookup(kind string) (Schema, bool) {
	for _, s := range registry {
		if s.Kind == kind {
			return s, true
		}
	}
	return Schema{}, false
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	out := make([]string, 0, len(registry))
	for _, s := range registry {
		out = append(out, s.Kind)
	}
	sort.Strings(out)
	return out
}

// Validate checks a detection against its kind's schema: the kind is registered, the statistic
// is one the kind reports, and every value is one of the kind's values. Errors name the field.
func Validate(d *Detection) error {
	s, ok := Lookup(d.Kind)
	if !ok {
		return fmt.Errorf("kind: %q is not a registered detection kind (known: %s)", d.Kind, strings.Join(Kinds(), ", "))
	}
	if !slices.Contains(s.Statistics, d.Statistic) {
		return fmt.Errorf("statistic: %q is not a statistic of kind %s (known: %s)", d.Statistic, d.Kind, strings.Join(s.Statistics, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(d.Values)) {
		if !s.HasValue(k) {
			return fmt.Errorf("values.%s: not a value of kind %s (known: %s)", k, d.Kind, strings.Join(s.ValueNames(), ", "))
		}
	}
	return nil
}
