// Package correlation scores whether a new incident belongs to an existing open one.
//
// Scoring is pure and deterministic. Each candidate opened within
// Config.Window before (or at) the incoming incident gets five parts, each
// in [0, 1]:
//
//	sameService  1 when the service ids match (same provider) or the
//	             normalised service names match (any provider)
//	dependency   1, 0.5 or 0.25 for 1, 2 or 3 hops in the dependency graph
//	sameKey      1 when an incident or dedup key matches exactly
//	title        title similarity: mean of the Jaccard index of word tokens
//	             and of character trigrams, numbers and ids stripped (the
//	             better of with and without the services' own names)
//	time         1 - age/Window (linear decay over the window)
//
// The total is the weighted sum clamped to [0, 1]. The default weights are
//
//	sameService 0.50  dependency 0.45  sameKey 0.80  title 0.30  time 0.20
//
// with threshold 0.6, so that an exact key alone correlates (0.80); the same
// service correlates within half the window whatever the title (0.50 + 0.20 *
// time), or later with a similar title; a direct dependency correlates when
// close in time (0.45 + 0.20 * time) or with a similar title; and unrelated
// services never do, even with identical titles at the same minute (at most
// 0.30 + 0.20).
package correlation

import (
	"math"
	"sort"
	"strings"
	"time"
	"unicode"
)

// Defaults used for zero Config fields.
const (
	DefaultWindow    = 15 * time.Minute
	DefaultThreshold = 0.6
	// MaxHops is how far NewGraph's Distance searches.
	MaxHops = 3
)

// DefaultWeights are the weights used when Config.Weights is all zero.
func DefaultWeights() Parts {
	return Parts{SameService: 0.50, Dependency: 0.45, SameKey: 0.80, Title: 0.30, Time: 0.20}
}

// DefaultConfig returns the default window, threshold and weights.
func DefaultConfig() Config {
	return Config{Window: DefaultWindow, Threshold: DefaultThreshold, Weights: DefaultWeights()}
}

// Candidate is an incident as correlation sees it.
type Candidate struct {
	ID          string
	Provider    string
	ServiceID   string
	ServiceName string
	IncidentKey string
	DedupKeys   []string
	Title       string
	StartedAt   time.Time
}

// Graph is a service dependency graph.
type Graph interface {
	// Distance is the number of hops between two services; ok is false
	// when they are not connected (within the graph's reach).
	Distance(fromServiceID, toServiceID string) (hops int, ok bool)
}

// Parts are the components of a score, each in [0, 1]; as Config.Weights
// they are the weight of each component.
type Parts struct {
	SameService float64 `json:"sameService"`
	Dependency  float64 `json:"dependency"`
	SameKey     float64 `json:"sameKey"`
	Title       float64 `json:"title"`
	Time        float64 `json:"time"`
}

// Score is how well an incoming incident matches one candidate.
type Score struct {
	Total       float64 `json:"total"`
	Parts       Parts   `json:"parts"`
	CandidateID string  `json:"candidateId"`
}

// Config tunes the scoring; zero fields take the defaults.
type Config struct {
	// Window: only candidates started this long before the incoming
	// incident (or at the same time) are considered. Default 15m.
	Window time.Duration
	// Threshold a total must reach to correlate. Default 0.6.
	Threshold float64
	// Weights of the parts. Default DefaultWeights() when all zero.
	Weights Parts
}

func (c Config) normalised() Config {
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.Threshold <= 0 {
		c.Threshold = DefaultThreshold
	}
	if c.Weights == (Parts{}) {
		c.Weights = DefaultWeights()
	}
	return c
}

// epsilon absorbs floating-point noise when comparing totals.
const epsilon = 1e-9

// Best scores every open candidate against incoming and returns the best
// one; ok is true when its total reaches the threshold. Candidates outside
// the window (or started after incoming, or without a start time) and
// incoming itself are skipped; with none left, Best returns a zero Score
// and false. Ties go to the higher total, then the earlier StartedAt, then
// the smaller ID.
func Best(cfg Config, g Graph, incoming Candidate, open []Candidate) (best Score, ok bool) {
	cfg = cfg.normalised()
	found := false
	var bestStart time.Time
	for _, c := range open {
		s, in := Evaluate(cfg, g, incoming, c)
		if !in {
			continue
		}
		if !found || better(s, c.StartedAt, best, bestStart) {
			best, bestStart, found = s, c.StartedAt, true
		}
	}
	if !found {
		return Score{}, false
	}
	return best, best.Total+epsilon >= cfg.Threshold
}

func better(s Score, start time.Time, than Score, thanStart time.Time) bool {
	if d := s.Total - than.Total; math.Abs(d) > epsilon {
		return d > 0
	}
	if !start.Equal(thanStart) {
		return start.Before(thanStart)
	}
	return s.CandidateID < than.CandidateID
}

// Evaluate scores one candidate; in is false when the candidate is not
// eligible (outside the window, started after incoming, no start time, or
// incoming itself), and the score is then zero.
func Evaluate(cfg Config, g Graph, incoming, c Candidate) (s Score, in bool) {
	cfg = cfg.normalised()
	if incoming.StartedAt.IsZero() || c.StartedAt.IsZero() {
		return Score{}, false
	}
	if c.ID != "" && c.ID == incoming.ID {
		return Score{}, false
	}
	age := incoming.StartedAt.Sub(c.StartedAt)
	if age < 0 || age > cfg.Window {
		return Score{}, false
	}
	p := Parts{Time: Clamp01(1 - float64(age)/float64(cfg.Window))}
	if sameService(incoming, c) {
		p.SameService = 1
	} else if hops, ok := distance(g, incoming, c); ok {
		if hops <= 0 {
			p.SameService = 1
		} else {
			p.Dependency = hopScore(hops)
		}
	}
	if sameKey(incoming, c) {
		p.SameKey = 1
	}
	p.Title = titleScore(incoming, c)
	w := cfg.Weights
	total := w.SameService*p.SameService + w.Dependency*p.Dependency + w.SameKey*p.SameKey +
		w.Title*p.Title + w.Time*p.Time
	return Score{Total: Clamp01(total), Parts: p, CandidateID: c.ID}, true
}

// hopScore is 1 for a direct neighbour, halved for every further hop.
func hopScore(hops int) float64 {
	if hops > MaxHops {
		return 0
	}
	return 1 / float64(int(1)<<(hops-1))
}

// Clamp01 bounds a score to [0, 1]; NaN is 0. The analyzers in rca use it
// for their confidences too.
func Clamp01(v float64) float64 {
	switch {
	case math.IsNaN(v) || v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}

// sameService: same non-empty service id within one provider, or the same
// normalised service name (a service without a name is named by its id, as
// Alertmanager's service label is both).
func sameService(a, b Candidate) bool {
	aid, bid := strings.TrimSpace(a.ServiceID), strings.TrimSpace(b.ServiceID)
	if aid != "" && aid == bid && strings.EqualFold(strings.TrimSpace(a.Provider), strings.TrimSpace(b.Provider)) {
		return true
	}
	an, bn := serviceName(a), serviceName(b)
	return an != "" && an == bn
}

func serviceName(c Candidate) string {
	if n := NormalizeServiceName(c.ServiceName); n != "" {
		return n
	}
	return NormalizeServiceName(c.ServiceID)
}

// NormalizeServiceName lower-cases a service name and turns every run of
// other characters than letters and digits into one '-', so that
// "Payments API", "payments_api" and "payments-api" are one service.
func NormalizeServiceName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}

// distance asks the graph by service id, then by service name.
func distance(g Graph, a, b Candidate) (int, bool) {
	if g == nil {
		return 0, false
	}
	pairs := [][2]string{
		{strings.TrimSpace(a.ServiceID), strings.TrimSpace(b.ServiceID)},
		{strings.TrimSpace(a.ServiceName), strings.TrimSpace(b.ServiceName)},
	}
	for _, p := range pairs {
		if p[0] == "" || p[1] == "" || p[0] == p[1] {
			continue // equal ids are sameService's call (ids are per provider)
		}
		if hops, ok := g.Distance(p[0], p[1]); ok && hops <= MaxHops {
			return hops, true
		}
	}
	return 0, false
}

func keys(c Candidate) []string {
	out := make([]string, 0, 1+len(c.DedupKeys))
	for _, k := range append([]string{c.IncidentKey}, c.DedupKeys...) {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

func sameKey(a, b Candidate) bool {
	bk := keys(b)
	for _, x := range keys(a) {
		for _, y := range bk {
			if x == y {
				return true
			}
		}
	}
	return false
}

// graph is an undirected adjacency map.
type graph map[string]map[string]bool

// NewGraph builds an undirected graph from service id pairs; its Distance
// is a breadth-first search of at most MaxHops hops. A service is at 0 hops
// from itself.
func NewGraph(edges [][2]string) Graph {
	g := graph{}
	add := func(a, b string) {
		if g[a] == nil {
			g[a] = map[string]bool{}
		}
		g[a][b] = true
	}
	for _, e := range edges {
		a, b := strings.TrimSpace(e[0]), strings.TrimSpace(e[1])
		if a == "" || b == "" || a == b {
			continue
		}
		add(a, b)
		add(b, a)
	}
	return g
}

func (g graph) Distance(from, to string) (int, bool) {
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	if from == "" || to == "" {
		return 0, false
	}
	if from == to {
		return 0, true
	}
	seen := map[string]bool{from: true}
	frontier := []string{from}
	for hops := 1; hops <= MaxHops && len(frontier) > 0; hops++ {
		var next []string
		for _, n := range frontier {
			for m := range g[n] {
				if m == to {
					return hops, true
				}
				if !seen[m] {
					seen[m] = true
					next = append(next, m)
				}
			}
		}
		frontier = next
	}
	return 0, false
}

// stopwords carry no meaning in alert titles.
var stopwords = map[string]bool{
	"a": true, "an": true, "the": true, "on": true, "in": true, "of": true, "for": true,
	"at": true, "to": true, "is": true, "and": true, "or": true, "with": true, "by": true, "from": true,
}

// TitleTokens lower-cases a title and splits it into word tokens, dropping
// stop words and every token that contains a digit (numbers, pod and
// request ids, versions), so "High latency on pod-7f9c" is [high latency pod].
func TitleTokens(title string) []string {
	fields := strings.FieldsFunc(strings.ToLower(title), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	out := fields[:0]
	for _, f := range fields {
		if stopwords[f] || strings.IndexFunc(f, unicode.IsDigit) >= 0 {
			continue
		}
		out = append(out, f)
	}
	return out
}

// TitleSimilarity is in [0, 1]: the mean of the Jaccard index of the two
// titles' word tokens and of their character trigrams (see TitleTokens).
// Titles without any token are similar to nothing.
func TitleSimilarity(a, b string) float64 {
	return tokenSimilarity(TitleTokens(a), TitleTokens(b))
}

// titleScore is the better of the titles' similarity as they are and with
// the words of both service names removed, so "Connection errors on
// payments-api" matches "Connection errors on postgres-primary".
func titleScore(a, b Candidate) float64 {
	ta, tb := TitleTokens(a.Title), TitleTokens(b.Title)
	best := tokenSimilarity(ta, tb)
	names := map[string]bool{}
	for _, c := range []Candidate{a, b} {
		for _, s := range []string{c.ServiceName, c.ServiceID} {
			for _, tok := range TitleTokens(s) {
				names[tok] = true
			}
		}
	}
	strip := func(ts []string) []string {
		var out []string
		for _, t := range ts {
			if !names[t] {
				out = append(out, t)
			}
		}
		return out
	}
	if s := tokenSimilarity(strip(ta), strip(tb)); s > best {
		best = s
	}
	return best
}

func tokenSimilarity(ta, tb []string) float64 {
	if len(ta) == 0 || len(tb) == 0 {
		return 0
	}
	words := jaccard(set(ta), set(tb))
	grams := jaccard(trigrams(ta), trigrams(tb))
	return Clamp01((words + grams) / 2)
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// trigrams of the tokens joined by single spaces, padded with a space.
func trigrams(tokens []string) map[string]bool {
	r := []rune(" " + strings.Join(tokens, " ") + " ")
	m := map[string]bool{}
	for i := 0; i+3 <= len(r); i++ {
		m[string(r[i:i+3])] = true
	}
	return m
}

func jaccard(a, b map[string]bool) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 0
	}
	inter := 0
	for k := range a {
		if b[k] {
			inter++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// Rank scores every eligible candidate and returns them best first (same
// order as Best), for explaining a decision.
func Rank(cfg Config, g Graph, incoming Candidate, open []Candidate) []Score {
	cfg = cfg.normalised()
	type scored struct {
		s     Score
		start time.Time
	}
	var all []scored
	for _, c := range open {
		if s, in := Evaluate(cfg, g, incoming, c); in {
			all = append(all, scored{s, c.StartedAt})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return better(all[i].s, all[i].start, all[j].s, all[j].start) })
	out := make([]Score, len(all))
	for i, x := range all {
		out[i] = x.s
	}
	return out
}
