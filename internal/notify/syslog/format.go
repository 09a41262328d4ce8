package syslog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warden-ai/warden/internal/alert"
	"github.com/warden-ai/warden/internal/notify"
)

// OCSFVersion is the OCSF schema version of the Detection Finding events.
const OCSFVersion = "1.3.0"

// OCSF Detection Finding (class 2004) constants.
const (
	ocsfClassUID    = 2004
	ocsfCategoryUID = 2
)

// Finding is an OCSF 1.x Detection Finding (the attributes Warden fills).
type Finding struct {
	ActivityID   int            `json:"activity_id"`
	ActivityName string         `json:"activity_name"`
	CategoryUID  int            `json:"category_uid"`
	CategoryName string         `json:"category_name"`
	ClassUID     int            `json:"class_uid"`
	ClassName    string         `json:"class_name"`
	TypeUID      int            `json:"type_uid"`
	TypeName     string         `json:"type_name"`
	SeverityID   int            `json:"severity_id"`
	Severity     string         `json:"severity"`
	StatusID     int            `json:"status_id"`
	Status       string         `json:"status"`
	Time         int64          `json:"time"`
	Message      string         `json:"message,omitempty"`
	FindingInfo  FindingInfo    `json:"finding_info"`
	Metadata     Metadata       `json:"metadata"`
	Resources    []Resource     `json:"resources,omitempty"`
	Observables  []Observable   `json:"observables,omitempty"`
	Unmapped     map[string]any `json:"unmapped,omitempty"`
}

// FindingInfo is OCSF finding_info.
type FindingInfo struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	Desc          string         `json:"desc,omitempty"`
	Types         []string       `json:"types,omitempty"`
	CreatedTime   int64          `json:"created_time,omitempty"`
	FirstSeenTime int64          `json:"first_seen_time,omitempty"`
	LastSeenTime  int64          `json:"last_seen_time,omitempty"`
	SrcURL        string         `json:"src_url,omitempty"`
	Analytic      *Analytic      `json:"analytic,omitempty"`
	RelatedEvents []RelatedEvent `json:"related_events,omitempty"`
}

// Analytic names the rule that produced the finding.
type Analytic struct {
	UID     string `json:"uid"`
	Name    string `json:"name,omitempty"`
	TypeID  int    `json:"type_id"`
	Type    string `json:"type"`
	Version string `json:"version,omitempty"`
}

// RelatedEvent points at an evidence event.
type RelatedEvent struct {
	UID string `json:"uid"`
}

// Metadata is OCSF metadata.
type Metadata struct {
	Version        string   `json:"version"`
	Product        Product  `json:"product"`
	UID            string   `json:"uid,omitempty"`
	CorrelationUID string   `json:"correlation_uid,omitempty"`
	Labels         []string `json:"labels,omitempty"`
}

// Product identifies Warden.
type Product struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

// Resource is an affected resource (the model).
type Resource struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Observable is an OCSF observable.
type Observable struct {
	Name   string `json:"name"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
	Value  string `json:"value"`
}

// OCSFSeverity maps P1..P4 to OCSF severity_id and caption.
func OCSFSeverity(s alert.Severity) (int, string) {
	switch s {
	case alert.P1:
		return 5, "Critical"
	case alert.P2:
		return 4, "High"
	case alert.P3:
		return 3, "Medium"
	case alert.P4:
		return 2, "Low"
	}
	return 0, "Unknown"
}

func activity(n *notify.Notification) (int, string, int, string) {
	switch {
	case n.Kind == notify.KindResolved:
		return 3, "Close", 4, "Resolved"
	case n.Kind == notify.KindAcknowledged:
		return 2, "Update", 2, "In Progress"
	case n.Level > 0:
		return 2, "Update", 1, "New"
	}
	return 1, "Create", 1, "New"
}

// NewFinding builds the OCSF Detection Finding for one alert of n.
func NewFinding(n *notify.Notification, a *alert.Alert, productVersion string) Finding {
	actID, actName, stID, stName := activity(n)
	sevID, sevName := OCSFSeverity(a.Severity)
	t := a.UpdatedAt
	if t.IsZero() {
		t = n.Time
	}
	f := Finding{
		ActivityID: actID, ActivityName: actName,
		CategoryUID: ocsfCategoryUID, CategoryName: "Findings",
		ClassUID: ocsfClassUID, ClassName: "Detection Finding",
		TypeUID: ocsfClassUID*100 + actID, TypeName: "Detection Finding: " + actName,
		SeverityID: sevID, Severity: sevName,
		StatusID: stID, Status: stName,
		Time:    t.UnixMilli(),
		Message: a.Summary,
		FindingInfo: FindingInfo{
			UID: a.ID, Title: firstNonEmpty(a.RuleName, a.Summary, a.RuleID), Desc: firstNonEmpty(a.Description, a.Summary),
			Types:         slices.Clone(a.Tags),
			CreatedTime:   ms(a.StartsAt),
			FirstSeenTime: ms(a.FirstEvent),
			LastSeenTime:  ms(a.UpdatedAt),
			SrcURL:        a.ConsoleURL,
		},
		Metadata: Metadata{
			Version:        OCSFVersion,
			Product:        Product{Name: "Warden", VendorName: "Warden", Version: productVersion},
			UID:            a.ID + "/" + string(n.Kind) + "/" + strconv.Itoa(n.Level),
			CorrelationUID: a.DedupKey,
		},
	}
	if a.RuleID != "" {
		f.FindingInfo.Analytic = &Analytic{UID: a.RuleID, Name: a.RuleName, TypeID: 1, Type: "Rule", Version: a.RuleVersion}
	}
	for _, id := range a.EventIDs {
		f.FindingInfo.RelatedEvents = append(f.FindingInfo.RelatedEvents, RelatedEvent{UID: id})
	}
	if a.Model != "" {
		f.Resources = []Resource{{Name: a.Model, Type: "AI Model"}}
	}
	if a.Actor != "" {
		f.Observables = append(f.Observables, Observable{Name: "actor.user.name", TypeID: 4, Type: "User Name", Value: a.Actor})
	}
	if a.Model != "" {
		f.Observables = append(f.Observables, Observable{Name: "resources.name", TypeID: 99, Type: "Other", Value: a.Model})
	}
	un := map[string]any{"warden_severity": string(a.Severity), "count": a.Count}
	if a.Environment != "" {
		un["environment"] = a.Environment
	}
	if len(a.Labels) > 0 {
		un["labels"] = a.Labels
	}
	if len(a.Values) > 0 {
		un["values"] = a.Values
	}
	if len(a.Actions) > 0 {
		un["containment_actions"] = a.Actions
	}
	if a.Runbook != "" {
		un["runbook"] = a.Runbook
	}
	if n.Level > 0 {
		un["escalation_level"] = n.Level
	}
	f.Unmapped = un
	return f
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// RenderOCSF returns the finding for a as one line of JSON.
func RenderOCSF(n *notify.Notification, a *alert.Alert, productVersion string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(NewFinding(n, a, productVersion)); err != nil {
		return nil, fmt.Errorf("encode OCSF finding: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// CEFSeverity maps P1..P4 to CEF's 0–10 scale.
func CEFSeverity(s alert.Severity) int {
	switch s {
	case alert.P1:
		return 10
	case alert.P2:
		return 8
	case alert.P3:
		return 5
	case alert.P4:
		return 3
	}
	return 0
}

// RenderCEF returns the CEF:0 record for one alert of n.
func RenderCEF(n *notify.Notification, a *alert.Alert, productVersion string) []byte {
	var b strings.Builder
	b.WriteString("CEF:0|Warden|Warden|")
	b.WriteString(CEFHeaderEscape(firstNonEmpty(productVersion, "dev")))
	b.WriteByte('|')
	b.WriteString(CEFHeaderEscape(firstNonEmpty(a.RuleID, "warden-alert")))
	b.WriteByte('|')
	b.WriteString(CEFHeaderEscape(firstNonEmpty(a.RuleName, a.Summary, a.RuleID)))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(CEFSeverity(a.Severity)))
	b.WriteByte('|')
	t := a.UpdatedAt
	if t.IsZero() {
		t = n.Time
	}
	ext := [][2]string{
		{"rt", strconv.FormatInt(t.UnixMilli(), 10)},
		{"act", string(n.Kind)},
		{"externalId", a.ID},
		{"msg", a.Summary},
		{"suser", a.Actor},
		{"cs1Label", "model"}, {"cs1", a.Model},
		{"cs2Label", "dedupKey"}, {"cs2", a.DedupKey},
		{"cs3Label", "environment"}, {"cs3", a.Environment},
		{"cs4Label", "eventIds"}, {"cs4", strings.Join(a.EventIDs, ",")},
		{"cs5Label", "tags"}, {"cs5", strings.Join(a.Tags, ",")},
		{"cs6Label", "wardenSeverity"}, {"cs6", string(a.Severity)},
		{"cn1Label", "escalationLevel"}, {"cn1", strconv.Itoa(n.Level)},
		{"cnt", strconv.Itoa(a.Count)},
		{"request", a.ConsoleURL},
	}
	first := true
	for i := 0; i < len(ext); i++ {
		k, v := ext[i][0], ext[i][1]
		if strings.HasSuffix(k, "Label") {
			// Drop a label whose value is empty, with its value.
			if i+1 < len(ext) && ext[i+1][1] == "" {
				i++
				continue
			}
		}
		if v == "" {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(CEFExtensionEscape(v))
	}
	return []byte(b.String())
}

// CEFHeaderEscape escapes a CEF header field: backslash and pipe are backslash-escaped, and
// line breaks (not allowed in the header) become spaces.
func CEFHeaderEscape(s string) string { return cefHeader.Replace(s) }

// Replacers are immutable and safe for concurrent use; built once.
var (
	cefHeader    = strings.NewReplacer(`\`, `\\`, `|`, `\|`, "\r\n", " ", "\n", " ", "\r", " ")
	cefExtension = strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\n", `\n`, "\r", `\r`)
)

// CEFExtensionEscape escapes a CEF extension value: backslash and equals sign are
// backslash-escaped, and line breaks are written as \n and \r.
func CEFExtensionEscape(s string) string { return cefExtension.Replace(s) }
