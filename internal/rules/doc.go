// Package rules is Warden's declarative detection engine: YAML rule files with CEL conditions
// (cel.dev/cel-go, cost-limited and type-checked at load time), Falco-style macros, lists and
// exceptions, and Sigma-correlation-style aggregations (event_count, value_count, temporal,
// temporal_ordered) with group-by, timespan, thresholds such as "> 5%" and "for: 5m", plus
// suppression windows, ATLAS/OWASP tags, runbooks and containment actions.
//
// Rules that select detections are checked at load against the detection contract
// (internal/detection): unknown kinds, values, statistics and summary placeholders are errors.
//
// A built-in pack (pack/*.yaml, embedded) implements the standard alert matrix and the security
// rules; user rules are loaded from extra directories beside it. Load parses and checks a set of
// files (every error names file:line), New compiles it into an Engine, and the Engine turns
// events (Observe), analysis detections (ObserveDetection) and the passage of time (Tick) into
// alert.Alert records carrying their evidence: triggering event ids, window values, rule version
// and tags.
//
// Auto-resolution: event_count and value_count rules (unless they set resolve: false) remember
// which groups raised an alert; when a later evaluation (an event for the group, or Tick as the
// window slides) finds the group's window value no longer meeting the threshold, the engine
// reports that alert's dedup key to Options.Resolved, once per firing, and lifts the key's
// suppression so that a new breach alerts again. An empty window reads as 0 (no matches).
// Detection rules whose selected kinds all report recovery (internal/detection) resolve too: a
// detection with Recovered set fires nothing and resolves the alert the rule raised for the same
// dedup key. Other per-event rules and temporal rules never resolve. Resolved runs after the engine's lock is released, at the end of the Observe,
// ObserveDetection or Tick call that found the condition clear — always a later call than the
// one that returned the alert. A caller that batches returned alerts before handing them to the
// alert manager must keep that order: deliver the alerts returned so far before it acts on a
// resolution reported after them (for instance, queue both in one ordered stream), or the
// resolution finds no open alert and is lost.
//
// Concurrency: an Engine serialises calls with one mutex; its state (windows, first-seen values,
// actor baselines) is bounded by LRU caps and lives in event time. Stateful CEL helpers such as
// first_seen and above_baseline keep their memory per rule.
package rules
