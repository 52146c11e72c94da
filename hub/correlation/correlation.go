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
	"bytes"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
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
	sc := newScorer(cfg, g, incoming)
	defer sc.release()
	found := false
	var bestStart time.Time
	for i := range open {
		c := &open[i]
		s, in := sc.evaluate(c)
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
	return best, best.Total+epsilon >= sc.cfg.Threshold
}

// Rank scores every eligible candidate and returns them best first (same
// order as Best), for explaining a decision.
func Rank(cfg Config, g Graph, incoming Candidate, open []Candidate) []Score {
	sc := newScorer(cfg, g, incoming)
	defer sc.release()
	type scored struct {
		s     Score
		start time.Time
	}
	var all []scored
	for i := range open {
		if s, in := sc.evaluate(&open[i]); in {
			all = append(all, scored{s, open[i].StartedAt})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return better(all[i].s, all[i].start, all[j].s, all[j].start) })
	out := make([]Score, len(all))
	for i, x := range all {
		out[i] = x.s
	}
	return out
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
	sc := newScorer(cfg, g, incoming)
	defer sc.release()
	return sc.evaluate(&c)
}

// scorer scores candidates against one incoming incident. What it needs of
// the incoming incident it computes once, on the first eligible candidate;
// what it needs of a candidate it computes into buffers that the next
// candidate reuses. Scorers and their buffers are pooled, so that scoring
// does not allocate once the buffers have grown.
type scorer struct {
	cfg Config
	g   Graph
	in  Candidate

	ready     bool     // the fields below are set
	serviceID string   // incoming's, trimmed
	provider  string   // incoming's, trimmed
	service   []byte   // incoming's normalised service name
	keys      []string // incoming's keys, trimmed, without empty ones
	title     title    // incoming's title and service names
	// rest are incoming's title tokens that are not among its own service
	// names, and restSet their set when that is not title.all (some were).
	rest     [][]rune
	restSet  tokenSet
	stripped bool // rest is shorter than title.tokens

	// Buffers for the current candidate.
	c     title
	name  []byte
	strip [][]rune
	sa    tokenSet
	sb    tokenSet
}

var scorers = sync.Pool{New: func() any { return new(scorer) }}

func newScorer(cfg Config, g Graph, incoming Candidate) *scorer {
	sc := scorers.Get().(*scorer)
	sc.cfg, sc.g, sc.in, sc.ready = cfg.normalised(), g, incoming, false
	return sc
}

// maxPooled is the largest buffer (in runes or bytes) a pooled scorer
// keeps: one that a huge title or service name grew is left to the
// garbage collector.
const maxPooled = 4096

// release puts sc back into the pool, without references to the call's
// graph and candidates.
func (sc *scorer) release() {
	for _, n := range []int{cap(sc.title.runes), cap(sc.title.nameRunes), cap(sc.c.runes), cap(sc.c.nameRunes),
		cap(sc.service), cap(sc.name)} {
		if n > maxPooled {
			return
		}
	}
	sc.g, sc.in, sc.serviceID, sc.provider = nil, Candidate{}, "", ""
	clear(sc.keys[:cap(sc.keys)])
	sc.title.forget()
	sc.c.forget()
	scorers.Put(sc)
}

func (sc *scorer) prepare() {
	if sc.ready {
		return
	}
	sc.ready = true
	in := &sc.in
	sc.serviceID, sc.provider = strings.TrimSpace(in.ServiceID), strings.TrimSpace(in.Provider)
	sc.service = appendServiceName(sc.service[:0], in)
	sc.keys = appendKeys(sc.keys[:0], in)
	sc.title.parse(in.Title)
	sc.title.parseNames(in.ServiceName, in.ServiceID)
	sc.rest = sc.rest[:0]
	for _, t := range sc.title.tokens {
		if !has(sc.title.names, t) {
			sc.rest = append(sc.rest, t)
		}
	}
	if sc.stripped = len(sc.rest) < len(sc.title.tokens); sc.stripped {
		sc.restSet.build(sc.rest)
	}
}

func (sc *scorer) evaluate(c *Candidate) (s Score, in bool) {
	incoming, cfg := &sc.in, sc.cfg
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
	sc.prepare()
	p := Parts{Time: Clamp01(1 - float64(age)/float64(cfg.Window))}
	if sc.sameService(c) {
		p.SameService = 1
	} else if hops, ok := distance(sc.g, incoming, c); ok {
		if hops <= 0 {
			p.SameService = 1
		} else {
			p.Dependency = hopScore(hops)
		}
	}
	if sc.sameKey(c) {
		p.SameKey = 1
	}
	p.Title = sc.titleScore(c)
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
func (sc *scorer) sameService(c *Candidate) bool {
	if sc.serviceID != "" && sc.serviceID == strings.TrimSpace(c.ServiceID) &&
		strings.EqualFold(sc.provider, strings.TrimSpace(c.Provider)) {
		return true
	}
	if len(sc.service) == 0 {
		return false
	}
	sc.name = appendServiceName(sc.name[:0], c)
	return bytes.Equal(sc.name, sc.service)
}

// appendServiceName appends c's normalised service name, or its
// normalised service id when it has no name, to dst.
func appendServiceName(dst []byte, c *Candidate) []byte {
	n := len(dst)
	if dst = appendNormalized(dst, c.ServiceName); len(dst) > n {
		return dst
	}
	return appendNormalized(dst, c.ServiceID)
}

// NormalizeServiceName lower-cases a service name and turns every run of
// other characters than letters and digits into one '-', so that
// "Payments API", "payments_api" and "payments-api" are one service.
func NormalizeServiceName(s string) string {
	return string(appendNormalized(make([]byte, 0, len(s)), s))
}

// distance asks the graph by service id, then by service name.
func distance(g Graph, a, b *Candidate) (int, bool) {
	if g == nil {
		return 0, false
	}
	if hops, ok := ask(g, strings.TrimSpace(a.ServiceID), strings.TrimSpace(b.ServiceID)); ok {
		return hops, true
	}
	return ask(g, strings.TrimSpace(a.ServiceName), strings.TrimSpace(b.ServiceName))
}

func ask(g Graph, from, to string) (int, bool) {
	if from == "" || to == "" || from == to {
		return 0, false // equal ids are sameService's call (ids are per provider)
	}
	if hops, ok := g.Distance(from, to); ok && hops <= MaxHops {
		return hops, true
	}
	return 0, false
}

// appendKeys appends c's incident key and dedup keys, trimmed, but for
// empty ones, to dst.
func appendKeys(dst []string, c *Candidate) []string {
	if k := strings.TrimSpace(c.IncidentKey); k != "" {
		dst = append(dst, k)
	}
	for _, k := range c.DedupKeys {
		if k = strings.TrimSpace(k); k != "" {
			dst = append(dst, k)
		}
	}
	return dst
}

// sameKey: one of c's keys is one of incoming's.
func (sc *scorer) sameKey(c *Candidate) bool {
	if len(sc.keys) == 0 {
		return false
	}
	if k := strings.TrimSpace(c.IncidentKey); k != "" && slices.Contains(sc.keys, k) {
		return true
	}
	for _, k := range c.DedupKeys {
		if k = strings.TrimSpace(k); k != "" && slices.Contains(sc.keys, k) {
			return true
		}
	}
	return false
}

// graph is an undirected graph. It remembers the services within MaxHops
// of each service it was asked about, so that Best, which asks about the
// incoming incident's service and every candidate's, searches it once.
type graph struct {
	adj  map[string]map[string]bool
	mu   sync.Mutex
	hops map[string]map[string]int // from a service to those within MaxHops
}

// NewGraph builds an undirected graph from service id pairs; its Distance
// is the length of a shortest path of at most MaxHops hops (found by a
// breadth-first search). A service is at 0 hops from itself. Its Distance
// may be called concurrently.
func NewGraph(edges [][2]string) Graph {
	g := &graph{adj: map[string]map[string]bool{}, hops: map[string]map[string]int{}}
	add := func(a, b string) {
		if g.adj[a] == nil {
			g.adj[a] = map[string]bool{}
		}
		g.adj[a][b] = true
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

func (g *graph) Distance(from, to string) (int, bool) {
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	if from == "" || to == "" {
		return 0, false
	}
	if from == to {
		return 0, true
	}
	if g.adj[from] == nil {
		return 0, false // not in the graph
	}
	g.mu.Lock()
	near, ok := g.hops[from]
	if !ok {
		near = g.search(from)
		g.hops[from] = near
	}
	g.mu.Unlock()
	hops, ok := near[to]
	return hops, ok
}

// search returns the hops from a service to every service within MaxHops,
// breadth first.
func (g *graph) search(from string) map[string]int {
	near := map[string]int{from: 0}
	frontier := []string{from}
	for hops := 1; hops <= MaxHops && len(frontier) > 0; hops++ {
		var next []string
		for _, n := range frontier {
			for m := range g.adj[n] {
				if _, seen := near[m]; !seen {
					near[m] = hops
					next = append(next, m)
				}
			}
		}
		frontier = next
	}
	return near
}

// titleScore is the better of the titles' similarity as they are and with
// the words of both service names removed, so "Connection errors on
// payments-api" matches "Connection errors on postgres-primary".
func (sc *scorer) titleScore(c *Candidate) float64 {
	a, b := &sc.title, &sc.c
	b.parse(c.Title)
	best := similarity(&a.all, &b.all)
	if best >= 1 {
		return best // the stripped titles cannot do better
	}
	b.parseNames(c.ServiceName, c.ServiceID)
	// Incoming without its own names is rest; without c's names too, a
	// subset of rest.
	sa, changed := &a.all, false
	if sc.stripped {
		sa, changed = &sc.restSet, true
	}
	if anyOf(sc.rest, b.names) {
		sc.strip = sc.strip[:0]
		for _, t := range sc.rest {
			if !has(b.names, t) {
				sc.strip = append(sc.strip, t)
			}
		}
		sc.sa.build(sc.strip)
		sa, changed = &sc.sa, true
	}
	sb := &b.all
	if anyOf(b.tokens, a.names) || anyOf(b.tokens, b.names) {
		sc.strip = sc.strip[:0]
		for _, t := range b.tokens {
			if !has(a.names, t) && !has(b.names, t) {
				sc.strip = append(sc.strip, t)
			}
		}
		sc.sb.build(sc.strip)
		sb, changed = &sc.sb, true
	}
	if !changed {
		return best // the same sets again
	}
	if s := similarity(sa, sb); s > best {
		best = s
	}
	return best
}

// anyOf reports whether one of tokens is among names.
func anyOf(tokens, names [][]rune) bool {
	if len(names) == 0 {
		return false
	}
	for _, t := range tokens {
		if has(names, t) {
			return true
		}
	}
	return false
}
