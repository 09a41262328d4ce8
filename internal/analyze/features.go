package analyze

import (
	"math"
	"strconv"
	"strings"

	"github.com/warden-ai/warden/internal/event"
	"github.com/warden-ai/warden/internal/scan"
	"github.com/warden-ai/warden/internal/stats"
)

// Finding is a scanner finding; the analyzer uses its category and score.
type Finding = scan.Finding

// Feature names of inference events. Request features are named
// "features.<key>".
const (
	FeatInputChars   = "input_chars"
	FeatOutputChars  = "output_chars"
	FeatInputTokens  = "input_tokens"
	FeatOutputTokens = "output_tokens"
	FeatLatency      = "latency_ms"
	FeatConfidence   = "confidence"
	FeatScanner      = "scanner_max_score"
	FeatInputClass   = "input_class"
	FeatPrediction   = "prediction"
	FeatLabel        = "label"
	featPrefix       = "features."
)

// value is one observed feature value.
type value struct {
	kind stats.Kind // 0 = null
	x    float64
	s    string
}

// featureFunc receives the features of an event one at a time.
type featureFunc func(name string, v value)

func numVal(x float64) value { return value{kind: stats.Numeric, x: x} }
func catVal(s string) value  { return value{kind: stats.Categorical, s: s} }
func optInt(p *int64) value {
	if p == nil {
		return value{}
	}
	return numVal(float64(*p))
}
func optFloat(p *float64) value {
	if p == nil {
		return value{}
	}
	return numVal(*p)
}

// anyValue classifies a JSON value: numbers are numeric, strings and
// booleans categorical, anything else null.
func anyValue(v any) value {
	switch t := v.(type) {
	case float64:
		return numVal(t)
	case float32:
		return numVal(float64(t))
	case int:
		return numVal(float64(t))
	case int64:
		return numVal(float64(t))
	case int32:
		return numVal(float64(t))
	case uint64:
		return numVal(float64(t))
	case string:
		return catVal(t)
	case bool:
		return catVal(strconv.FormatBool(t))
	}
	return value{}
}

// labelString is the canonical string of a prediction or label, used to
// join the two and for label/prediction distributions.
func labelString(v any) (string, bool) {
	switch t := v.(type) {
	case nil:
		return "", false
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	}
	x := anyValue(v)
	if x.kind == stats.Numeric {
		return strconv.FormatFloat(x.x, 'g', -1, 64), true
	}
	return "", false
}

// isPositive decides whether a prediction or label is the positive class.
func isPositive(v any, positive string) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return strings.EqualFold(t, positive) || strings.EqualFold(t, "true") || strings.EqualFold(t, "yes") || strings.EqualFold(t, "positive")
	}
	if x := anyValue(v); x.kind == stats.Numeric {
		return x.x >= 0.5
	}
	return false
}

// eachFeature reports the drift features of an inference event.
func eachFeature(ev *event.Event, maxScore float64, f featureFunc) {
	req, resp := ev.Request, ev.Response
	if req != nil {
		n := req.InputChars
		if n == 0 {
			n = len(req.Input)
		}
		if n > 0 || req.Input != "" {
			f(FeatInputChars, numVal(float64(n)))
		} else {
			f(FeatInputChars, value{})
		}
		f(FeatInputTokens, optInt(req.InputTokens))
		if req.InputClass != "" {
			f(FeatInputClass, catVal(req.InputClass))
		}
		for k, v := range req.Features {
			f(featPrefix+k, anyValue(v))
		}
	}
	if resp != nil {
		n := resp.OutputChars
		if n == 0 {
			n = len(resp.Output)
		}
		if n > 0 || resp.Output != "" {
			f(FeatOutputChars, numVal(float64(n)))
		} else {
			f(FeatOutputChars, value{})
		}
		f(FeatOutputTokens, optInt(resp.OutputTokens))
		f(FeatLatency, optFloat(resp.LatencyMS))
		if resp.Confidence != nil {
			f(FeatConfidence, numVal(*resp.Confidence))
		}
		if resp.Prediction != nil {
			f(FeatPrediction, anyValue(resp.Prediction))
		}
	}
	if !math.IsNaN(maxScore) {
		f(FeatScanner, numVal(maxScore))
	}
}
