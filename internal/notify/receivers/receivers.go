// Package receivers turns the `receivers:` section of Warden's configuration into notifiers:
// [ReceiverConfig] mirrors the YAML contract of docs/ARCHITECTURE.md §5, [Validate] checks it
// strictly, and [Build] resolves secrets from the environment and constructs one
// notify.Notifier per receiver. Secrets are only ever read from environment variables named
// in the config (the *_env keys); errors name the variable, never its value.
package receivers

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"time"

	"github.com/warden-ai/warden/internal/notify"
	"github.com/warden-ai/warden/internal/notify/alertmanager"
	"github.com/warden-ai/warden/internal/notify/email"
	"github.com/warden-ai/warden/internal/notify/pagerduty"
	"github.com/warden-ai/warden/internal/notify/slack"
	"github.com/warden-ai/warden/internal/notify/splunk"
	"github.com/warden-ai/warden/internal/notify/syslog"
	"github.com/warden-ai/warden/internal/notify/webhook"
)

// ReceiverConfig is one entry of `receivers:`; exactly one integration key is set.
type ReceiverConfig struct {
	Name         string              `yaml:"name" json:"name"`
	Webhook      *WebhookConfig      `yaml:"webhook,omitempty" json:"webhook,omitempty"`
	PagerDuty    *PagerDutyConfig    `yaml:"pagerduty,omitempty" json:"pagerduty,omitempty"`
	Slack        *SlackConfig        `yaml:"slack,omitempty" json:"slack,omitempty"`
	Alertmanager *AlertmanagerConfig `yaml:"alertmanager,omitempty" json:"alertmanager,omitempty"`
	Syslog       *SyslogConfig       `yaml:"syslog,omitempty" json:"syslog,omitempty"`
	Splunk       *SplunkConfig       `yaml:"splunk,omitempty" json:"splunk,omitempty"`
	Email        *EmailConfig        `yaml:"email,omitempty" json:"email,omitempty"`
}

// WebhookConfig is `webhook: {url, secret_env}`.
type WebhookConfig struct {
	URL       string `yaml:"url" json:"url"`
	SecretEnv string `yaml:"secret_env" json:"secret_env"`
}

// PagerDutyConfig is `pagerduty: {routing_key_env, url}`; url defaults to the Events API v2.
type PagerDutyConfig struct {
	RoutingKeyEnv string `yaml:"routing_key_env" json:"routing_key_env"`
	URL           string `yaml:"url,omitempty" json:"url,omitempty"`
}

// SlackConfig is `slack: {url_env}`; the incoming-webhook URL is a credential.
type SlackConfig struct {
	URLEnv string `yaml:"url_env" json:"url_env"`
}

// AlertmanagerConfig is `alertmanager: {url, ends_after}`.
type AlertmanagerConfig struct {
	URL string `yaml:"url" json:"url"`
	// EndsAfter, when set, gives firing alerts endsAt = now + ends_after.
	EndsAfter time.Duration `yaml:"ends_after,omitempty" json:"ends_after,omitempty"`
}

// SyslogConfig is `syslog: {address, format, facility, hostname, ca_file}`.
type SyslogConfig struct {
	Address  string `yaml:"address" json:"address"`
	Format   string `yaml:"format,omitempty" json:"format,omitempty"`
	Facility string `yaml:"facility,omitempty" json:"facility,omitempty"`
	Hostname string `yaml:"hostname,omitempty" json:"hostname,omitempty"`
	// CAFile is a PEM bundle that tls:// servers are verified against (default: system roots).
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
}

// SplunkConfig is `splunk: {url, token_env, index, source, sourcetype}`.
type SplunkConfig struct {
	URL        string `yaml:"url" json:"url"`
	TokenEnv   string `yaml:"token_env" json:"token_env"`
	Index      string `yaml:"index,omitempty" json:"index,omitempty"`
	Source     string `yaml:"source,omitempty" json:"source,omitempty"`
	Sourcetype string `yaml:"sourcetype,omitempty" json:"sourcetype,omitempty"`
}

// EmailConfig is `email: {smtp, from, to, username, password_env, starttls, ca_file}`.
type EmailConfig struct {
	SMTP        string   `yaml:"smtp" json:"smtp"`
	From        string   `yaml:"from" json:"from"`
	To          []string `yaml:"to" json:"to"`
	Username    string   `yaml:"username,omitempty" json:"username,omitempty"`
	PasswordEnv string   `yaml:"password_env,omitempty" json:"password_env,omitempty"`
	StartTLS    bool     `yaml:"starttls,omitempty" json:"starttls,omitempty"`
	CAFile      string   `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
}

// Options carry what Build passes to every notifier.
type Options struct {
	// HTTPClient sends HTTP notifications; nil uses notify.NewHTTPClient(nil, 0).
	HTTPClient *http.Client
	// Version is Warden's version, for OCSF metadata and CEF headers.
	Version string
	// ReadFile reads ca_file; nil uses os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks cfgs without reading the environment: names unique and well-formed, one
// integration each, required keys present. It reports every problem, each naming the
// receiver (by index and name) and the key.
func Validate(cfgs []ReceiverConfig) error {
	var errs []error
	seen := map[string]int{}
	for i, c := range cfgs {
		at := fmt.Sprintf("receivers[%d]", i)
		if c.Name != "" {
			at += fmt.Sprintf(" (%s)", c.Name)
		}
		bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(at+": "+format, args...)) }
		switch {
		case c.Name == "":
			bad("name is required")
		case !nameRE.MatchString(c.Name):
			bad("name %q: use letters, digits, '_', '.', '-' (at most 64)", c.Name)
		default:
			if j, dup := seen[c.Name]; dup {
				bad("name %q already used by receivers[%d]", c.Name, j)
			}
			seen[c.Name] = i
		}
		kinds := c.kinds()
		if len(kinds) != 1 {
			bad("set exactly one of webhook, pagerduty, slack, alertmanager, syslog, splunk, email (found %d)", len(kinds))
			continue
		}
		env := func(key, v string, required bool) {
			switch {
			case v == "" && required:
				bad("%s.%s is required", kinds[0], key)
			case v != "" && !envRE.MatchString(v):
				bad("%s.%s %q is not an environment variable name", kinds[0], key, v)
			}
		}
		req := func(key, v string) {
			if v == "" {
				bad("%s.%s is required", kinds[0], key)
			}
		}
		switch {
		case c.Webhook != nil:
			req("url", c.Webhook.URL)
			env("secret_env", c.Webhook.SecretEnv, true)
		case c.PagerDuty != nil:
			env("routing_key_env", c.PagerDuty.RoutingKeyEnv, true)
		case c.Slack != nil:
			env("url_env", c.Slack.URLEnv, true)
		case c.Alertmanager != nil:
			req("url", c.Alertmanager.URL)
			if c.Alertmanager.EndsAfter < 0 {
				bad("alertmanager.ends_after must not be negative")
			}
		case c.Syslog != nil:
			req("address", c.Syslog.Address)
			if f := c.Syslog.Format; f != "" && f != "ocsf" && f != "cef" {
				bad("syslog.format %q: want ocsf or cef", f)
			}
		case c.Splunk != nil:
			req("url", c.Splunk.URL)
			env("token_env", c.Splunk.TokenEnv, true)
		case c.Email != nil:
			req("smtp", c.Email.SMTP)
			req("from", c.Email.From)
			if len(c.Email.To) == 0 {
				bad("email.to needs at least one address")
			}
			env("password_env", c.Email.PasswordEnv, false)
			if (c.Email.Username == "") != (c.Email.PasswordEnv == "") {
				bad("email.username and email.password_env go together")
			}
		}
	}
	return errors.Join(errs...)
}

func (c *ReceiverConfig) kinds() []string {
	var k []string
	for name, set := range map[string]bool{
		"webhook": c.Webhook != nil, "pagerduty": c.PagerDuty != nil, "slack": c.Slack != nil,
		"alertmanager": c.Alertmanager != nil, "syslog": c.Syslog != nil, "splunk": c.Splunk != nil, "email": c.Email != nil,
	} {
		if set {
			k = append(k, name)
		}
	}
	sort.Strings(k)
	return k
}

// Build validates cfgs, reads each named secret with getenv, and returns one notifier per
// receiver name. A missing or empty secret variable is an error naming the variable.
func Build(cfgs []ReceiverConfig, getenv func(string) string, opts Options) (map[string]notify.Notifier, error) {
	if err := Validate(cfgs); err != nil {
		return nil, fmt.Errorf("receivers: %w", err)
	}
	if getenv == nil {
		return nil, errors.New("receivers: getenv is nil")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = notify.NewHTTPClient(nil, 0)
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	out := make(map[string]notify.Notifier, len(cfgs))
	var errs []error
	for i, c := range cfgs {
		n, err := build(c, getenv, opts)
		if err != nil {
			errs = append(errs, fmt.Errorf("receivers[%d] (%s): %w", i, c.Name, err))
			continue
		}
		out[c.Name] = n
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("receivers: %w", err)
	}
	return out, nil
}

func build(c ReceiverConfig, getenv func(string) string, opts Options) (notify.Notifier, error) {
	secret := func(kind, key, name string) (notify.Secret, error) {
		v := getenv(name)
		if v == "" {
			return "", fmt.Errorf("%s.%s: environment variable %s is unset or empty", kind, key, name)
		}
		return notify.Secret(v), nil
	}
	switch {
	case c.Webhook != nil:
		s, err := secret("webhook", "secret_env", c.Webhook.SecretEnv)
		if err != nil {
			return nil, err
		}
		return webhook.New(webhook.Config{URL: c.Webhook.URL, Secret: s}, webhook.Options{Client: opts.HTTPClient})
	case c.PagerDuty != nil:
		s, err := secret("pagerduty", "routing_key_env", c.PagerDuty.RoutingKeyEnv)
		if err != nil {
			return nil, err
		}
		return pagerduty.New(pagerduty.Config{RoutingKey: s, URL: c.PagerDuty.URL}, pagerduty.Options{Client: opts.HTTPClient})
	case c.Slack != nil:
		s, err := secret("slack", "url_env", c.Slack.URLEnv)
		if err != nil {
			return nil, err
		}
		return slack.New(slack.Config{URL: s}, slack.Options{Client: opts.HTTPClient})
	case c.Alertmanager != nil:
		return alertmanager.New(alertmanager.Config{URL: c.Alertmanager.URL, EndsAfter: c.Alertmanager.EndsAfter}, alertmanager.Options{Client: opts.HTTPClient})
	case c.Syslog != nil:
		tlsCfg, err := caConfig(c.Syslog.CAFile, opts.ReadFile)
		if err != nil {
			return nil, fmt.Errorf("syslog.ca_file: %w", err)
		}
		return syslog.New(syslog.Config{
			Address: c.Syslog.Address, Format: syslog.Format(c.Syslog.Format), Facility: c.Syslog.Facility,
			Hostname: c.Syslog.Hostname, ProductVersion: opts.Version, TLS: tlsCfg,
		}, syslog.Options{})
	case c.Splunk != nil:
		s, err := secret("splunk", "token_env", c.Splunk.TokenEnv)
		if err != nil {
			return nil, err
		}
		return splunk.New(splunk.Config{URL: c.Splunk.URL, Token: s, Index: c.Splunk.Index, Source: c.Splunk.Source, Sourcetype: c.Splunk.Sourcetype},
			splunk.Options{Client: opts.HTTPClient})
	case c.Email != nil:
		var pass notify.Secret
		if c.Email.PasswordEnv != "" {
			s, err := secret("email", "password_env", c.Email.PasswordEnv)
			if err != nil {
				return nil, err
			}
			pass = s
		}
		tlsCfg, err := caConfig(c.Email.CAFile, opts.ReadFile)
		if err != nil {
			return nil, fmt.Errorf("email.ca_file: %w", err)
		}
		return email.New(email.Config{
			SMTP: c.Email.SMTP, From: c.Email.From, To: c.Email.To, Username: c.Email.Username,
			Password: pass, StartTLS: c.Email.StartTLS, TLS: tlsCfg,
		}, email.Options{})
	}
	return nil, errors.New("no integration set")
}

func caConfig(path string, read func(string) ([]byte, error)) (*tls.Config, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := read(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
