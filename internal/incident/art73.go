package incident

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"time"
)

// Art73Report is a draft of the serious-incident report to the market surveillance authority
// of the Member State where the incident occurred (Regulation (EU) 2024/1689, Art. 73). Warden
// fills what it knows from the incident and its case file; ToComplete lists what a person must
// add before submission (the Act lets an initial, incomplete report be followed by a complete
// one, Art. 73(5)).
type Art73Report struct {
	Regulation  string    `json:"regulation"`
	Status      string    `json:"status"`      // draft
	ReportType  string    `json:"report_type"` // initial | complete
	GeneratedAt time.Time `json:"generated_at"`

	Provider Provider `json:"provider"`
	System   struct {
		Name     string          `json:"name"`
		Version  string          `json:"version,omitempty"`
		Snapshot json.RawMessage `json:"configuration_in_force,omitempty"`
	} `json:"ai_system"`

	Incident struct {
		ID              string    `json:"id"`
		Title           string    `json:"title"`
		Category        Category  `json:"category"`
		Clause          string    `json:"serious_incident_definition"`
		Type            Type      `json:"type"`
		OccurredAt      time.Time `json:"occurred_at,omitzero"`
		DetectedAt      time.Time `json:"detected_at,omitzero"`
		AwareAt         time.Time `json:"aware_at"`
		Deadline        time.Time `json:"reporting_deadline"`
		DeadlineBasis   string    `json:"deadline_basis"`
		Description     string    `json:"description"`
		MemberStates    []string  `json:"member_states"`
		AffectedPersons string    `json:"affected_persons"`
		Harm            string    `json:"harm"`
		CausalLink      string    `json:"causal_link"`
		TimeToDetect    string    `json:"time_to_detect,omitempty"`
		TimeToResolve   string    `json:"time_to_resolve,omitempty"`
	} `json:"incident"`

	ContainmentMeasures []string `json:"containment_measures"`
	CorrectiveMeasures  string   `json:"corrective_measures"`
	Timeline            []Entry  `json:"timeline"`
	Evidence            struct {
		EventIDs      []string `json:"event_ids"`
		CaseFile      string   `json:"case_file"`
		ActorsCovered []string `json:"actors_covered"`
	} `json:"evidence"`
	OtherNotifications string   `json:"other_notifications"`
	ToComplete         []string `json:"to_complete"`
}

const toFill = "TO COMPLETE"

// BuildArt73Report drafts the report from a case file of a serious incident.
func BuildArt73Report(cf *CaseFile, p Provider, now time.Time) *Art73Report {
	inc := &cf.Incident
	r := &Art73Report{Regulation: "Regulation (EU) 2024/1689 (AI Act), Article 73", Status: "draft", ReportType: "initial", GeneratedAt: now, Provider: p}
	r.System.Name = inc.Model
	r.System.Snapshot = inc.Snapshot
	var snap struct {
		Version string `json:"model_version"`
	}
	if json.Unmarshal(inc.Snapshot, &snap) == nil {
		r.System.Version = snap.Version
	}
	ri := &r.Incident
	ri.ID, ri.Title, ri.Type = inc.ID, inc.Title, inc.Type
	ri.OccurredAt, ri.DetectedAt = inc.FirstEvidenceAt, inc.DetectedAt
	if s := inc.Serious; s != nil {
		ri.Category, ri.Clause, ri.AwareAt, ri.Deadline, ri.DeadlineBasis = s.Category, s.Clause, s.AwareAt, s.Deadline, s.Basis
		if s.ReportedAt != nil {
			r.ReportType = "complete"
		}
	}
	ri.Description = fmt.Sprintf("%s incident %q on AI system %q, detected by Warden monitoring with %d alert(s) and %d triggering event(s).",
		inc.Type, inc.Title, inc.Model, len(inc.AlertIDs), len(cf.EventIDs))
	ri.MemberStates = []string{}
	ri.AffectedPersons, ri.Harm = toFill, toFill
	ri.CausalLink = "Under investigation: the causal link between the AI system and the harm is being established (Art. 73(2)); the report is submitted without waiting for it."
	if d := inc.MTTD(); d > 0 {
		ri.TimeToDetect = d.String()
	}
	if d := inc.MTTR(); d > 0 {
		ri.TimeToResolve = d.String()
	}
	r.ContainmentMeasures = []string{}
	for _, e := range inc.Timeline {
		if e.Kind == "action" {
			r.ContainmentMeasures = append(r.ContainmentMeasures, fmt.Sprintf("%s %s (%s)", e.Time.UTC().Format(time.RFC3339), e.Text, e.Actor))
		}
	}
	for _, c := range cf.Containment {
		r.ContainmentMeasures = append(r.ContainmentMeasures, string(c))
	}
	r.CorrectiveMeasures = toFill
	r.Timeline = inc.Timeline
	r.Evidence.EventIDs = cf.EventIDs
	r.Evidence.CaseFile = "case.json and evidence.pkg in the exported case file of incident " + inc.ID + " (events with Merkle inclusion proofs and a signed checkpoint, verifiable offline)"
	r.Evidence.ActorsCovered = inc.Actors
	if r.Evidence.ActorsCovered == nil {
		r.Evidence.ActorsCovered = []string{}
	}
	r.OtherNotifications = toFill + " (e.g. GDPR Art. 33 personal-data breach notification within 72 hours, sectoral vigilance)"
	r.ToComplete = []string{"incident.member_states", "incident.affected_persons", "incident.harm", "corrective_measures", "other_notifications"}
	if p.Name == "" {
		r.ToComplete = append([]string{"provider"}, r.ToComplete...)
	}
	if r.System.Version == "" {
		r.ToComplete = append(r.ToComplete, "ai_system.version")
	}
	return r
}

//go:embed art73.html.tmpl
var art73HTML string

var art73Tmpl = template.Must(template.New("art73").Funcs(template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 MST")
	},
}).Parse(art73HTML))

// WriteHTML renders the draft as a printable HTML page.
func (r *Art73Report) WriteHTML(w io.Writer) error {
	if err := art73Tmpl.Execute(w, r); err != nil {
		return fmt.Errorf("render Art. 73 report: %w", err)
	}
	return nil
}
