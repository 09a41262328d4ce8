// Package analyze holds Warden's stateful stream detectors for models in
// production: live metrics per model × version × environment (× input
// class) over sliding windows, automatic and explicit behavioural
// baselines, data/prediction/label/concept drift on frozen baseline bins
// (statistics from package stats, conventions of DRIFT.md), fairness per
// protected attribute, and usage and cost anomalies (hour-of-week volume,
// new consumers, shadow AI, cost spikes).
//
// An Analyzer is fed every accepted event through Observe (the hot path)
// and evaluated periodically through Tick; both return Detections for the
// rules stage. All methods are safe for concurrent use; one mutex guards
// the state. Memory is bounded by the cardinality limits in Options; what
// a limit drops is counted (Dropped, and the
// warden_analyze_dropped_total metric). Snapshot and Restore persist the
// state across restarts; the caller replays the events appended after the
// snapshot's position.
//
// The subpackage extraction (model-extraction detection) is maintained
// separately.
package analyze
