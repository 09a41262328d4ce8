package scan

import (
	"context"
	"math"
	"regexp"
	"strings"
)

// secretScanner finds credentials with a rule set modelled on the coverage of
// Gitleaks' default configuration (see docs/DETECTION.md for why the engine
// itself is not linked). A keyword Aho-Corasick pass selects rules; a rule's
// regular expression runs only in a window around its keyword.
type secretScanner struct {
	kw    *matcher
	kwMap [][]int // keyword id -> rule ids
	rules []secretRule
}

type secretRule struct {
	id       string
	keywords []string
	re       *regexp.Regexp
	group    int     // capture group holding the secret (0 = whole match)
	entropy  float64 // minimum Shannon entropy (bits/char) of the secret
	score    float64
	before   int  // window bytes before the keyword
	random   bool // the value must pass looksRandom (and not be a reference)
	shaped   bool // the value's format is specific: only masks count as placeholders
}

func r(id string, score, entropy float64, group int, re string, kws ...string) secretRule {
	return secretRule{id: id, keywords: kws, re: regexp.MustCompile(re), group: group, entropy: entropy, score: score, before: 8}
}

// g is a rule whose value is judged by looksRandom instead of a fixed
// entropy floor (short passwords cannot reach a high bits-per-char).
func g(id string, score float64, group int, re string, kws ...string) secretRule {
	sr := r(id, score, 0, group, re, kws...)
	sr.random = true
	sr.before = 40 // the key name may run on before the keyword (MYSQL_DATABASE_PASSWORD)
	return sr
}

// looksRandom reports whether a credential value looks generated or chosen
// as a password rather than being a word, an identifier, a number or a
// reference to elsewhere: at least 6 characters, mixing at least three of
// lower case, upper case, digits and symbols (or two classes with 16+
// characters), with near-maximal entropy for its length.
func looksRandom(v string) bool {
	if len(v) < 6 {
		return false
	}
	var lo, up, dg, sy int
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= 'a' && c <= 'z':
			lo = 1
		case c >= 'A' && c <= 'Z':
			up = 1
		case c >= '0' && c <= '9':
			dg = 1
		default:
			sy = 1
		}
	}
	classes := lo + up + dg + sy
	if classes < 2 || classes < 3 && len(v) < 16 {
		return false
	}
	if dg == 1 && lo+up == 0 {
		return false // numbers, dates, IPs
	}
	want := min(3.3, 0.8*math.Log2(float64(len(v))))
	return entropy(v) >= want
}

// valueReference reports values that name a variable, call or path rather
// than holding a secret (os.getenv("X"), self.password, $PASSWORD, /run/secrets/db).
func valueReference(v string) bool {
	if strings.ContainsAny(v, "()[]{}$") || strings.HasPrefix(v, "/") || strings.HasPrefix(v, "&") {
		return true
	}
	// dotted identifiers: config.db.password, self.secret
	if i := strings.IndexByte(v, '.'); i > 0 {
		id := true
		for j := 0; j < len(v); j++ {
			c := v[j]
			if !(c == '.' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				id = false
				break
			}
		}
		if id {
			return true
		}
	}
	return false
}

// maskPlaceholder reports obvious masks and templates in a value whose
// shape is already specific (a 40-character AWS secret that spells EXAMPLE
// is still a credential-shaped value worth redacting).
func maskPlaceholder(s string) bool {
	l := strings.ToLower(s)
	for _, p := range []string{"xxxx", "****", "${", "{{", "<", "your_", "your-", "..."} {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}

func shaped(sr secretRule) secretRule {
	sr.shaped = true
	return sr
}

func secretRules() []secretRule {
	rs := []secretRule{
		r("aws_access_key_id", 0.95, 3, 0, `\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}\b`, "AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
		shaped(r("aws_secret_access_key", 0.9, 4, 1, `(?i)(?:aws|secret).{0,25}?[=:"' ]\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`, "aws_secret", "AWS_SECRET", "aws_secret_access_key", "SecretAccessKey", "secret_access_key", "secret", "Secret", "SECRET")),
		r("github_token", 0.95, 3, 0, `\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b`, "ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
		r("github_fine_grained_pat", 0.95, 3, 0, `github_pat_[A-Za-z0-9_]{82}`, "github_pat_"),
		r("gitlab_token", 0.95, 3, 0, `\bgl(?:pat|dt|ptt|rt|cbt|oas|imt|agent|ft|soat|ffct)-[A-Za-z0-9_-]{20,}`, "glpat-", "gldt-", "glptt-", "glrt-", "glcbt-", "glimt-", "glagent-", "glsoat-", "glffct-"),
		r("slack_token", 0.95, 2.5, 0, `xox[abposre]-(?:\d+-)?[A-Za-z0-9-]{10,}`, "xoxb-", "xoxa-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xoxe-"),
		r("slack_webhook", 0.9, 0, 0, `https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}`, "hooks.slack.com"),
		r("stripe_key", 0.95, 3, 0, `\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{20,}`, "sk_live_", "rk_live_", "sk_test_", "rk_test_", "pk_live_", "pk_test_"),
		r("google_api_key", 0.9, 3, 0, `AIza[0-9A-Za-z_-]{35}`, "AIza"),
		r("google_oauth_secret", 0.9, 3, 0, `GOCSPX-[A-Za-z0-9_-]{28}`, "GOCSPX-"),
		r("anthropic_api_key", 0.95, 3, 0, `sk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{80,}`, "sk-ant-"),
		r("openai_api_key", 0.9, 3.5, 0, `\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}|\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}`, "sk-", "T3BlbkFJ"),
		r("groq_api_key", 0.9, 3, 0, `gsk_[A-Za-z0-9]{48,}`, "gsk_"),
		r("huggingface_token", 0.9, 3, 0, `\bhf_[A-Za-z]{30,}\b`, "hf_"),
		r("private_key", 0.99, 0, 0, `-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----)?`, "PRIVATE KEY"),
		r("jwt", 0.7, 3, 0, `\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}`, "eyJ"),
		r("onepassword_token", 0.9, 3, 0, `ops_eyJ[A-Za-z0-9+/=_-]{100,}`, "ops_eyJ"),
		r("url_credentials", 0.85, 2, 1, `\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s:/@"'<>]{1,64}:([^\s:@/"'<>]{3,128})@[A-Za-z0-9.-]+`, "://"),
		r("sendgrid_api_key", 0.95, 3, 0, `SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}`, "SG."),
		r("twilio_api_key", 0.85, 3, 0, `\bSK[0-9a-fA-F]{32}\b`, "SK"),
		r("npm_token", 0.95, 3, 0, `\bnpm_[A-Za-z0-9]{36}\b`, "npm_"),
		r("pypi_token", 0.95, 3, 0, `pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}`, "pypi-AgEI"),
		r("vault_token", 0.9, 3, 0, `\bhv[sb]\.[A-Za-z0-9_-]{24,}`, "hvs.", "hvb."),
		r("digitalocean_token", 0.95, 3, 0, `\bdo[opr]_v1_[a-f0-9]{64}\b`, "dop_v1_", "doo_v1_", "dor_v1_"),
		r("shopify_token", 0.95, 3, 0, `shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}`, "shpat_", "shpca_", "shppa_", "shpss_"),
		r("azure_storage_key", 0.95, 3, 1, `AccountKey=([A-Za-z0-9+/=]{86,88})`, "AccountKey="),
		r("telegram_bot_token", 0.85, 3, 0, `\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b`, ":AA"),
		r("discord_webhook", 0.9, 0, 0, `https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{60,}`, "/api/webhooks/"),
		r("mailgun_key", 0.85, 3, 0, `\bkey-[0-9a-f]{32}\b`, "key-"),
		r("databricks_token", 0.9, 3, 0, `\bdapi[a-f0-9]{32}(?:-\d)?\b`, "dapi"),
		r("square_token", 0.9, 3, 0, `\bsq0(?:atp|csp)-[0-9A-Za-z_-]{22,43}`, "sq0atp-", "sq0csp-"),
		r("linear_api_key", 0.9, 3, 0, `lin_api_[A-Za-z0-9]{40}`, "lin_api_"),
		r("atlassian_token", 0.85, 3, 0, `\bATATT3[A-Za-z0-9_=-]{150,}`, "ATATT3"),
		r("newrelic_key", 0.85, 3, 0, `\bNR(?:AK|AA|II|JS)-[A-Za-z0-9]{27,}`, "NRAK-", "NRAA-", "NRII-", "NRJS-"),
		r("posthog_key", 0.85, 3, 0, `\bph[cx]_[A-Za-z0-9]{40,}`, "phc_", "phx_"),
		r("cloudflare_token", 0.6, 3.5, 1, `(?i)cloudflare.{0,30}?[=:"' ]\s*["']?([A-Za-z0-9_-]{40})\b`, "cloudflare", "CLOUDFLARE", "Cloudflare"),
		r("docker_pat", 0.9, 3, 0, `\bdckr_pat_[A-Za-z0-9_-]{27,}`, "dckr_pat_"),
		r("figma_pat", 0.9, 3, 0, `\bfigd_[A-Za-z0-9_-]{40,}`, "figd_"),
		r("grafana_token", 0.9, 3, 0, `\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|\bglc_[A-Za-z0-9+/]{32,}={0,2}`, "glsa_", "glc_"),
		r("jfrog_token", 0.85, 3, 0, `\bAKCp[A-Za-z0-9]{69}|\bcmVmd[A-Za-z0-9]{59}`, "AKCp", "cmVmd"),
		r("planetscale_token", 0.9, 3, 0, `\bpscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,}`, "pscale_"),
		r("postman_key", 0.9, 3, 0, `\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}`, "PMAK-"),
		r("sonarqube_token", 0.85, 3, 0, `\bsq[pua]_[a-f0-9]{40}\b`, "sqp_", "squ_", "sqa_"),
		r("supabase_key", 0.9, 3, 0, `\bsbp_[a-f0-9]{40}\b`, "sbp_"),
		r("bearer_token", 0.7, 3.2, 1, `(?i)bearer\s+([A-Za-z0-9._~+/-]{20,}=*)`, "Bearer ", "bearer ", "BEARER "),
		r("basic_auth", 0.7, 3, 1, `(?i)authorization:\s*basic\s+([A-Za-z0-9+/]{12,}=*)`, "Basic ", "basic ", "BASIC "),
		// A credential-named key (password, db_password, aws_secret_access_key,
		// ANY_pass, PW, client_secret, api_key, …) assigned a random-looking
		// value; the value test is randomness (see looksRandom), not length.
		g("generic_secret", 0.65, 1, `(?i)(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|auth[_-]?key|private[_-]?key|credentials?|salt|nonce|(?:^|[^a-z])(?:pass|pw))[a-z0-9_.-]{0,30}?["']?\s*(?:[:=]|:=|=>|\s+is\s+)\s*["'\x60]?([^\s"'\x60,;)<>(]{6,128})`,
			"password", "Password", "PASSWORD", "passwd", "PASSWD", "passphrase", "pwd", "PWD", "Pwd", "secret", "Secret", "SECRET",
			"token", "Token", "TOKEN", "api_key", "apikey", "api-key", "apiKey", "ApiKey", "API_KEY", "APIKEY",
			"access_key", "accessKey", "ACCESS_KEY", "auth_key", "private_key", "privateKey", "credential", "Credential", "CREDENTIAL",
			"salt", "SALT", "nonce", "NONCE", "pass", "Pass", "PASS", "pw", "PW", "Pw"),
		// SQL: CREATE USER … IDENTIFIED BY '…', ALTER ROLE … PASSWORD '…'.
		g("sql_password", 0.7, 1, `(?i)(?:identified\s+by|password)\s+'([^'\s]{4,128})'`, "IDENTIFIED BY", "identified by", "PASSWORD '", "password '"),
		r("cli_password", 0.65, 2.5, 1, `(?:^|\s)(?:-p|--password[= ]|--token[= ]|-u\s*\S+:)\s?["']?([^\s"']{6,})`, "-p", "--password", "--token", "-u "),
	}
	return rs
}

func newSecretScanner() *secretScanner {
	s := &secretScanner{rules: secretRules()}
	idx := map[string]int{}
	var kws []string
	for ri, rule := range s.rules {
		for _, k := range rule.keywords {
			id, ok := idx[k]
			if !ok {
				id = len(kws)
				idx[k] = id
				kws = append(kws, k)
				s.kwMap = append(s.kwMap, nil)
			}
			s.kwMap[id] = append(s.kwMap[id], ri)
		}
	}
	s.kw = newMatcher(kws)
	return s
}

func (*secretScanner) Name() string { return ScannerSecret }

func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	h := 0.0
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

var placeholders = []string{"xxxx", "****", "${", "{{", "<", "example", "changeme", "your_", "your-", "placeholder",
	"dummy", "redacted", "password", "secret", "token", "...", "process.env", "os.environ", "getenv", "env("}

func isPlaceholder(s string) bool {
	l := strings.ToLower(s)
	for _, p := range placeholders {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}

func (s *secretScanner) Scan(_ context.Context, in *Doc) ([]Finding, error) {
	t := in.Text
	var out []Finding
	done := map[[2]int]bool{}
	lastEnd := make([]int, len(s.rules)) // per rule: skip keyword hits inside an earlier match
	s.kw.each(t, func(id, end int) {
		kstart := end - len(s.kw.pats[id])
		for _, ri := range s.kwMap[id] {
			rule := &s.rules[ri]
			if kstart < lastEnd[ri] {
				continue
			}
			ws := max(0, kstart-rule.before)
			if rule.id == "aws_secret_access_key" || rule.id == "cloudflare_token" {
				ws = max(0, kstart-40)
			}
			we := min(len(t), end+400)
			if rule.id == "private_key" {
				ws = max(0, kstart-40)
				we = min(len(t), end+8200)
			}
			win := t[ws:we]
			for _, m := range rule.re.FindAllStringSubmatchIndex(win, 4) {
				ms, me := m[0]+ws, m[1]+ws
				if ms > end || me < kstart && rule.id != "private_key" {
					continue // the match must involve this keyword occurrence
				}
				gs, ge := ms, me
				if rule.group > 0 && len(m) > 2*rule.group && m[2*rule.group] >= 0 {
					gs, ge = m[2*rule.group]+ws, m[2*rule.group+1]+ws
				}
				sec := t[gs:ge]
				if rule.entropy > 0 && entropy(sec) < rule.entropy {
					continue
				}
				if rule.random && (!looksRandom(sec) || valueReference(sec)) {
					continue
				}
				if rule.shaped {
					if maskPlaceholder(sec) {
						continue
					}
				} else if (rule.group > 0 || rule.id == "jwt") && isPlaceholder(sec) {
					continue
				}
				key := [2]int{gs, ge}
				if done[key] {
					continue
				}
				done[key] = true
				lastEnd[ri] = me
				sc := rule.score
				if rule.id == "generic_secret" && len(sec) >= 16 && entropy(sec) > 4 {
					sc = 0.8
				}
				out = append(out, Finding{Detector: "secret." + rule.id, Category: CatSecret, Score: sc,
					Start: gs, End: ge, Evidence: maskSecret(sec)})
			}
		}
	})
	return dedupeSpans(out), nil
}

// dedupeSpans drops findings contained in a higher-or-equal scoring one.
func dedupeSpans(fs []Finding) []Finding {
	if len(fs) < 2 {
		return fs
	}
	out := make([]Finding, 0, len(fs))
	for i, f := range fs {
		drop := false
		for j, g := range fs {
			if i != j && g.Start <= f.Start && f.End <= g.End && (g.Score > f.Score || g.Score == f.Score && j < i) &&
				(g.End-g.Start > f.End-f.Start || j < i) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, f)
		}
	}
	return out
}

// maskSecret keeps a 4-character prefix and the length, never the secret.
func maskSecret(s string) string {
	p := min(4, len(s)/4)
	return s[:p] + strings.Repeat("*", 4) + " (" + itoa(len(s)) + " chars)"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
