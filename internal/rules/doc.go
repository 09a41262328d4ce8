// Package rules is Warden's declarative detection engine: YAML rule files with CEL conditions
// (cel.dev/cel-go, cost-limited and type-checked at load time), Falco-style macros, lists and
// exceptions, and Sigma-correlation-style aggregations (event_count, value_count, temporal,
// temporal_ordered) with group-by, timespan, thresholds such as "> 5%" and "for: 5m", plus
// suppression windows, ATLAS/OWASP tags, runbooks and containment actions.
//
// A built-in pack (pack/*.yaml, embedded) implements the standard alert matrix and the security
// rules; user rules are loaded from extra directories beside it. Load parses and checks a set of
// files (every error names file:line), New compiles it into an Engine, and the Engine turns
// events (Observe), analysis detections (ObserveDetection) and the passage of time (Tick) into
// alert.Alert records carrying their evidence: triggering event ids, window values, rule version
// and tags.
//
// Concurrency: an Engine serialises calls with one mutex; its state (windows, first-seen values,
// actor baselines) is bounded by LRU caps and lives in event time. Stateful CEL helpers such as
// first_seen and above_baseline keep their memory per rule.
package rules
