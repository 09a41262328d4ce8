// Package stats holds Warden's drift, fairness and sketch mathematics: PSI,
// two-sample Kolmogorov–Smirnov (statistic and exact, asymptotic and
// Stephens-corrected p-values), Jensen–Shannon distance, normalised
// Wasserstein distance with the baseline + 2σ rule, the 2×K chi-square
// contingency test, dataset drift share and the fairness metrics
// (demographic parity, disparate impact, equalized odds, per-group
// calibration error).
//
// Two modes follow docs/STATISTICS.md:
//
//   - Streaming (profile) mode: bins are frozen from a baseline
//     ([NewNumericBins], [NewCategoricalBins]) and every window keeps a
//     mergeable [Profile] (counts per frozen bin, Welford moments merged with
//     Chan's formula, a DDSketch with 1% relative accuracy and a HyperLogLog
//     with precision 14). [Compare] evaluates two profiles.
//   - Batch parity mode ([BatchBins], [BatchPSI]): Evidently's binning of raw
//     samples (equal-width Sturges bins over baseline ∪ current when the
//     baseline has more than 20 distinct values).
//
// The package is pure computation: no I/O, no logging, no global state.
// Values are not safe for concurrent mutation; callers serialise access.
package stats
