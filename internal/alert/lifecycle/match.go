package lifecycle

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/warden-ai/warden/internal/alert"
)

// MatchType is how a Matcher compares a label value.
type MatchType string

// Matcher types, as in Prometheus and Alertmanager.
const (
	MatchEqual     MatchType = "="
	MatchNotEqual  MatchType = "!="
	MatchRegexp    MatchType = "=~"
	MatchNotRegexp MatchType = "!~"
)

// Matcher selects alerts by one label. Regular expressions are anchored at both ends.
type Matcher struct {
	Name  string    `json:"name"`
	Type  MatchType `json:"type"`
	Value string    `json:"value"`

	re *regexp.Regexp
}

// ErrMatcher reports a malformed matcher.
var ErrMatcher = errors.New("invalid matcher")

// NewMatcher builds a matcher, compiling its regular expression if it has one.
func NewMatcher(name string, t MatchType, value string) (Matcher, error) {
	m := Matcher{Name: name, Type: t, Value: value}
	if err := m.compile(); err != nil {
		return Matcher{}, err
	}
	return m, nil
}

func (m *Matcher) compile() error {
	if !validLabelName(m.Name) {
		return fmt.Errorf("%w: label name %q", ErrMatcher, m.Name)
	}
	switch m.Type {
	case MatchEqual, MatchNotEqual:
		m.re = nil
	case MatchRegexp, MatchNotRegexp:
		if len(m.Value) > maxMatcherValue {
			return fmt.Errorf("%w: regexp longer than %d bytes", ErrMatcher, maxMatcherValue)
		}
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrMatcher, m.Name, err)
		}
		m.re = re
	default:
		return fmt.Errorf("%w: operator %q (want =, !=, =~ or !~)", ErrMatcher, m.Type)
	}
	return nil
}

const maxMatcherValue = 1024

// Matches reports whether the label set satisfies m; a missing label has the empty value.
func (m *Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	switch m.Type {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return m.re != nil && m.re.MatchString(v)
	case MatchNotRegexp:
		return m.re != nil && !m.re.MatchString(v)
	}
	return false
}

// String renders m in the syntax ParseMatchers accepts.
func (m Matcher) String() string {
	return m.Name + string(m.Type) + quote(m.Value)
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Matchers is a conjunction: all must match.
type Matchers []Matcher

// Matches reports whether every matcher matches labels.
func (ms Matchers) Matches(labels map[string]string) bool {
	for i := range ms {
		if !ms[i].Matches(labels) {
			return false
		}
	}
	return true
}

// String renders ms as {a="b",c=~"d"}.
func (ms Matchers) String() string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// compile (re)compiles every matcher, e.g. after JSON decoding.
func (ms Matchers) compile() error {
	for i := range ms {
		if err := ms[i].compile(); err != nil {
			return fmt.Errorf("matcher %d: %w", i, err)
		}
	}
	return nil
}

func validLabelName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case (r >= '0' && r <= '9') || r == '.' || r == '-':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// ParseMatchers parses a matcher list in the Alertmanager syntax: `{model="x",severity=~"P3|P4"}`
// or, without braces, `model=x, severity=~P3|P4`. Values may be double-quoted (with \" \\ \n
// escapes) or bare (up to the next comma). An empty list is an error.
func ParseMatchers(s string) (Matchers, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		if !strings.HasSuffix(s, "}") {
			return nil, fmt.Errorf("%w: missing closing brace", ErrMatcher)
		}
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrMatcher)
	}
	var ms Matchers
	p := matcherParser{s: s}
	for {
		p.skipSpace()
		if p.done() {
			break
		}
		m, err := p.matcher()
		if err != nil {
			return nil, fmt.Errorf("%w (at byte %d)", err, p.i)
		}
		ms = append(ms, m)
		p.skipSpace()
		if p.done() {
			break
		}
		if p.s[p.i] != ',' {
			return nil, fmt.Errorf("%w: expected ',' at byte %d", ErrMatcher, p.i)
		}
		p.i++
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%w: no matchers", ErrMatcher)
	}
	return ms, nil
}

type matcherParser struct {
	s string
	i int
}

func (p *matcherParser) done() bool { return p.i >= len(p.s) }

func (p *matcherParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *matcherParser) matcher() (Matcher, error) {
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune("=!~, \t\"", rune(p.s[p.i])) {
		p.i++
	}
	name := p.s[start:p.i]
	p.skipSpace()
	var op MatchType
	switch {
	case strings.HasPrefix(p.s[p.i:], "=~"):
		op = MatchRegexp
	case strings.HasPrefix(p.s[p.i:], "!~"):
		op = MatchNotRegexp
	case strings.HasPrefix(p.s[p.i:], "!="):
		op = MatchNotEqual
	case strings.HasPrefix(p.s[p.i:], "="):
		op = MatchEqual
	default:
		return Matcher{}, fmt.Errorf("%w: %q has no operator", ErrMatcher, name)
	}
	p.i += len(op)
	p.skipSpace()
	var value string
	if p.i < len(p.s) && p.s[p.i] == '"' {
		v, err := p.quoted()
		if err != nil {
			return Matcher{}, err
		}
		value = v
	} else {
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != ',' {
			p.i++
		}
		value = strings.TrimSpace(p.s[start:p.i])
		if strings.ContainsRune(value, '"') {
			return Matcher{}, fmt.Errorf("%w: stray quote in unquoted value", ErrMatcher)
		}
	}
	return NewMatcher(name, op, value)
}

func (p *matcherParser) quoted() (string, error) {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			return b.String(), nil
		case '\\':
			if p.i+1 >= len(p.s) {
				return "", fmt.Errorf("%w: dangling escape", ErrMatcher)
			}
			switch p.s[p.i+1] {
			case '"', '\\':
				b.WriteByte(p.s[p.i+1])
			case 'n':
				b.WriteByte('\n')
			default:
				return "", fmt.Errorf("%w: unknown escape \\%c", ErrMatcher, p.s[p.i+1])
			}
			p.i += 2
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", fmt.Errorf("%w: unterminated quoted value", ErrMatcher)
}

// Labels returns the label set that matchers, silences, inhibition and grouping see for a: the
// alert's own labels plus the built-ins alertname (rule name), rule_id, severity, model,
// environment and actor (built-ins win over same-named alert labels).
func Labels(a *alert.Alert) map[string]string {
	l := make(map[string]string, len(a.Labels)+6)
	for k, v := range a.Labels {
		l[k] = v
	}
	set := func(k, v string) {
		if v != "" {
			l[k] = v
		}
	}
	set("alertname", a.RuleName)
	set("rule_id", a.RuleID)
	set("severity", string(a.Severity))
	set("model", a.Model)
	set("environment", a.Environment)
	set("actor", a.Actor)
	return l
}
