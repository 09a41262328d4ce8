// Package incident tracks incidents: opened automatically from P1/P2 alerts (configurable) or
// by hand, with a type, a phase, an owner, a timeline, MTTD/MTTR, a snapshot of what was in
// force when it opened, an automatically compiled case file exportable with a verifiable
// evidence package, and for serious incidents the EU AI Act Art. 73 reporting deadlines,
// reminders and a report draft.
//
// The package depends on the rest of Warden only through function values in Options
// (Snapshot, Search, Containment, ExportEvidence, Raise, ResolveReminder, Audit), which the
// composition root wires. ObserveAlert is meant to be lifecycle.Options.OnChange.
package incident
