package incident

import (
	"fmt"
	"time"
)

// Category is the kind of serious incident under EU AI Act Art. 3(49) and Art. 73; it sets the
// reporting deadline.
type Category string

// Serious-incident categories.
const (
	// Death of a person (Art. 3(49)(a)); Art. 73(4): report within 10 days of awareness.
	Death Category = "death"
	// Serious harm to a person's health (Art. 3(49)(a)); Art. 73(2): 15 days.
	HealthHarm Category = "health_harm"
	// Serious and irreversible disruption of the management or operation of critical
	// infrastructure (Art. 3(49)(b)); Art. 73(3): 2 days.
	CriticalInfrastructure Category = "critical_infrastructure"
	// Widespread infringement (Art. 3(61)); Art. 73(3): 2 days.
	WidespreadInfringement Category = "widespread_infringement"
	// Infringement of Union-law obligations protecting fundamental rights (Art. 3(49)(c)); 15 days.
	FundamentalRights Category = "fundamental_rights"
	// Serious harm to property or the environment (Art. 3(49)(d)); 15 days.
	PropertyEnvironment Category = "property_environment"
)

var categories = map[Category]struct {
	deadline time.Duration
	clause   string
	basis    string
}{
	Death:                  {10 * day, "Art. 3(49)(a)", "Art. 73(4): not later than 10 days after awareness, where the incident involves the death of a person"},
	HealthHarm:             {15 * day, "Art. 3(49)(a)", "Art. 73(2): not later than 15 days after awareness"},
	CriticalInfrastructure: {2 * day, "Art. 3(49)(b)", "Art. 73(3): not later than 2 days after awareness, for a serious and irreversible disruption of critical infrastructure"},
	WidespreadInfringement: {2 * day, "Art. 3(61)", "Art. 73(3): not later than 2 days after awareness, for a widespread infringement"},
	FundamentalRights:      {15 * day, "Art. 3(49)(c)", "Art. 73(2): not later than 15 days after awareness"},
	PropertyEnvironment:    {15 * day, "Art. 3(49)(d)", "Art. 73(2): not later than 15 days after awareness"},
}

const day = 24 * time.Hour

// Categories lists the valid categories.
func Categories() []Category {
	return []Category{Death, HealthHarm, CriticalInfrastructure, WidespreadInfringement, FundamentalRights, PropertyEnvironment}
}

// Deadline returns the latest report time for a category, counted from awareness.
func Deadline(c Category, aware time.Time) (time.Time, error) {
	k, ok := categories[c]
	if !ok {
		return time.Time{}, fmt.Errorf("serious incident category %q: want one of %v", c, Categories())
	}
	return aware.Add(k.deadline), nil
}

// Serious marks an incident as serious under Art. 73.
type Serious struct {
	Category  Category  `json:"category"`
	Clause    string    `json:"clause"`
	Basis     string    `json:"deadline_basis"`
	AwareAt   time.Time `json:"aware_at"`
	Deadline  time.Time `json:"deadline"`
	FlaggedBy string    `json:"flagged_by"`
	FlaggedAt time.Time `json:"flagged_at"`
	// ReportedAt and Reference record the submission to the authority; reminders stop then.
	ReportedAt *time.Time `json:"reported_at,omitempty"`
	ReportedBy string     `json:"reported_by,omitempty"`
	Reference  string     `json:"reference,omitempty"`
	// NextReminder is the index into reminderStages of the next reminder to raise.
	NextReminder int `json:"next_reminder"`
}

// reminderStages are the points (fractions of the reporting window) at which a reminder alert
// is raised, and its severity: half the window, 80%, 95%, and the deadline itself.
var reminderStages = []struct {
	frac     float64
	name     string
	severity string
}{
	{0.5, "half", "P2"},
	{0.8, "80pct", "P1"},
	{0.95, "95pct", "P1"},
	{1.0, "overdue", "P1"},
}

func (s *Serious) reminderAt(i int) time.Time {
	window := s.Deadline.Sub(s.AwareAt)
	return s.AwareAt.Add(time.Duration(float64(window) * reminderStages[i].frac))
}

// DueReminder returns the time of the next reminder, or zero when none is left.
func (s *Serious) DueReminder() time.Time {
	if s.ReportedAt != nil || s.NextReminder >= len(reminderStages) {
		return time.Time{}
	}
	return s.reminderAt(s.NextReminder)
}
