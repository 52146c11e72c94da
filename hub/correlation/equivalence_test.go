package correlation

import (
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// corpusWords are the pieces generated titles and service names are made
// of: plain words, stop words, numbers and ids (dropped by TitleTokens),
// service names, unicode letters (case mappings that change length, title
// case, final sigma, dotted capital I, Kelvin sign), digits of other
// scripts, numerals that are neither letters nor digits, marks, emoji and
// invalid UTF-8.
var corpusWords = []string{
	"High", "high", "HIGH", "latency", "CPU", "cpu", "connection", "Connection", "errors", "error",
	"payments", "api", "payments-api", "Payments API", "payments_api", "postgres", "primary", "postgres-primary",
	"pod", "pods", "disk", "full", "queue", "depth", "replication", "lag", "checkout", "search", "index",
	"a", "an", "the", "The", "ON", "on", "in", "of", "for", "at", "to", "is", "and", "or", "with", "by", "from",
	"7", "97%", "10.0.3.4", "pod-7f9c", "7f9c", "v2.3.1", "0x1f", "404", "5xx", "(12)", "#3",
	"Ünïcode", "ДИСК", "диск", "заполнен", "高延迟", "数据库", "ΣΊΣΥΦΟΣ", "σίσυφος", "İstanbul", "ǅemal",
	"Straße", "STRASSE", "\u212aelvin", "e\u0301te", "１２３", "٣٤", "Ⅻ", "x²", "🔥", "\xff\xfe", "a\xffb",
	"zero\u200bwidth", "ﬁle", "ＡＢＣ", "ǈ", "ß",
}

var corpusSeps = []string{" ", " ", " ", "-", "_", "/", ": ", ", ", "\t", "  ", "\n", ".", "(", ")", "—", ""}

var corpusServices = [][2]string{
	{"PPAY", "payments-api"}, {"PPAY", "Payments API"}, {"payments-api", "payments-api"}, {"PX7Q2ZB", "Payments API"},
	{"PPG", "postgres-primary"}, {"PPG", ""}, {"", "postgres primary"}, {"PCHK", "checkout"}, {"P1", "the"},
	{"P2", "pod"}, {"svc-7f9c", ""}, {"P3", "ДИСК-сервис"}, {"P4", "高延迟"}, {"P5", "high latency"},
	{"P8", "queue depth high latency on payments api search index disk full lag"},
	{"", ""}, {"  ", "  "}, {"PSEARCH", "search"}, {"P6", "7"}, {"P7", "Connection errors"},
}

var corpusProviders = []string{"pagerduty", "PagerDuty ", "alertmanager", "", "grafana"}

var corpusKeys = []string{"k1", "k2", " k1 ", "", "  ", "grp/disk-full", "K1"}

func corpusTitle(r *rand.Rand) string {
	switch r.Intn(20) {
	case 0:
		return ""
	case 1: // only stop words and numbers
		var b strings.Builder
		for n := r.Intn(5); n >= 0; n-- {
			b.WriteString([]string{"the", "on", "7", "97%", "a", "10.0.3.4", "of"}[r.Intn(7)])
			b.WriteString(" ")
		}
		return b.String()
	case 2: // a service's name in the title
		s := corpusServices[r.Intn(len(corpusServices))]
		return "Connection errors on " + s[1] + " " + s[0]
	case 3:
		if r.Intn(20) == 0 { // larger than a pooled scorer keeps
			return strings.Repeat(corpusWords[r.Intn(len(corpusWords))]+" "+corpusWords[r.Intn(len(corpusWords))]+" ", 700)
		}
	}
	var b strings.Builder
	for n := r.Intn(9); n >= 0; n-- {
		b.WriteString(corpusWords[r.Intn(len(corpusWords))])
		b.WriteString(corpusSeps[r.Intn(len(corpusSeps))])
	}
	if r.Intn(4) == 0 { // duplicated words
		return b.String() + " " + b.String()
	}
	return b.String()
}

func corpusCandidate(r *rand.Rand, id string, base time.Time) Candidate {
	s := corpusServices[r.Intn(len(corpusServices))]
	c := Candidate{
		ID: id, Provider: corpusProviders[r.Intn(len(corpusProviders))], ServiceID: s[0], ServiceName: s[1],
		IncidentKey: corpusKeys[r.Intn(len(corpusKeys))], Title: corpusTitle(r),
		StartedAt: base.Add(-time.Duration(r.Int63n(int64(20*time.Minute))) + time.Duration(r.Int63n(int64(time.Minute)))),
	}
	for n := r.Intn(3); n > 0; n-- {
		c.DedupKeys = append(c.DedupKeys, corpusKeys[r.Intn(len(corpusKeys))])
	}
	switch r.Intn(30) {
	case 0:
		c.StartedAt = time.Time{}
	case 1:
		c.StartedAt = base
	case 2:
		c.ID = ""
	}
	return c
}

// corpusEdges link ids and names of corpusServices, as process.go links
// the services of dependency evidence.
var corpusEdges = [][2]string{
	{"PCHK", "PPAY"}, {"PPAY", "PPG"}, {"PPG", "P1"}, {"P1", "P2"}, {"P2", "P3"}, {"P3", "P4"}, {"P4", "P5"},
	{"payments-api", "postgres-primary"}, {"postgres primary", "search"}, {"checkout", "payments-api"},
	{" PSEARCH ", "P6"}, {"P6", "P6"}, {"", "P7"},
}

var corpusConfigs = []Config{
	{},
	{Window: time.Hour, Threshold: 0.5},
	{Window: 10 * time.Minute, Weights: Parts{Title: 1}},
	{Weights: Parts{SameService: 0.1, Dependency: 0.2, SameKey: 0.3, Title: 0.7, Time: 0.9}},
}

func sameBits(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

func identical(a, b Score) bool {
	return a.CandidateID == b.CandidateID && sameBits(a.Total, b.Total) &&
		sameBits(a.Parts.SameService, b.Parts.SameService) && sameBits(a.Parts.Dependency, b.Parts.Dependency) &&
		sameBits(a.Parts.SameKey, b.Parts.SameKey) && sameBits(a.Parts.Title, b.Parts.Title) &&
		sameBits(a.Parts.Time, b.Parts.Time)
}

// TestMatchesReference holds Evaluate, Best, Rank, TitleSimilarity,
// TitleTokens and NormalizeServiceName to the implementation they replaced
// (reference_test.go), bit for bit, over a generated corpus.
func TestMatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(20261201))
	base := t0.Add(time.Hour)
	pairs, titled, stripped, correlated := 0, 0, 0, 0
	for group := 0; group < 400; group++ {
		cfg := corpusConfigs[group%len(corpusConfigs)]
		// Each group gets new graphs: the new one remembers searches.
		g, rg := NewGraph(corpusEdges), referenceNewGraph(corpusEdges)
		if group%5 == 0 {
			g, rg = nil, nil
		}
		incoming := corpusCandidate(r, "in", base)
		incoming.StartedAt = base
		if group%50 == 0 {
			incoming.StartedAt = time.Time{}
		}
		open := make([]Candidate, 1+r.Intn(40))
		for i := range open {
			open[i] = corpusCandidate(r, fmt.Sprintf("c%02d", r.Intn(60)), base)
			if r.Intn(10) == 0 { // a duplicate of an earlier one, or of incoming
				open[i] = []Candidate{incoming, open[r.Intn(i+1)]}[r.Intn(2)]
				open[i].ID = fmt.Sprintf("d%02d", i)
			}
		}
		for _, c := range open {
			got, gotIn := Evaluate(cfg, g, incoming, c)
			want, wantIn := referenceEvaluate(cfg, rg, incoming, c)
			if gotIn != wantIn || !identical(got, want) {
				t.Fatalf("Evaluate(%q, %q):\n got  %+v %v\n want %+v %v", incoming.Title, c.Title, got, gotIn, want, wantIn)
			}
			pairs++
			if want.Parts.Title > 0 {
				titled++
			}
			if wantIn && want.Parts.Title > referenceTitleSimilarity(incoming.Title, c.Title) {
				stripped++ // the titles without the service names won
			}
			if got, want := TitleSimilarity(incoming.Title, c.Title), referenceTitleSimilarity(incoming.Title, c.Title); !sameBits(got, want) {
				t.Fatalf("TitleSimilarity(%q, %q) = %v, want %v", incoming.Title, c.Title, got, want)
			}
			if got, want := TitleTokens(c.Title), referenceTitleTokens(c.Title); !reflect.DeepEqual(got, want) {
				t.Fatalf("TitleTokens(%q) = %q, want %q", c.Title, got, want)
			}
			for _, n := range []string{c.ServiceName, c.ServiceID, c.Title} {
				if got, want := NormalizeServiceName(n), referenceNormalizeServiceName(n); got != want {
					t.Fatalf("NormalizeServiceName(%q) = %q, want %q", n, got, want)
				}
			}
		}
		got, gotOK := Best(cfg, g, incoming, open)
		want, wantOK := referenceBest(cfg, rg, incoming, open)
		if gotOK != wantOK || !identical(got, want) {
			t.Fatalf("group %d: Best = %+v %v, want %+v %v", group, got, gotOK, want, wantOK)
		}
		if wantOK {
			correlated++
		}
		gotRank, wantRank := Rank(cfg, g, incoming, open), referenceRank(cfg, rg, incoming, open)
		if len(gotRank) != len(wantRank) {
			t.Fatalf("group %d: Rank has %d scores, want %d", group, len(gotRank), len(wantRank))
		}
		for i := range wantRank {
			if !identical(gotRank[i], wantRank[i]) {
				t.Fatalf("group %d: Rank[%d] = %+v, want %+v", group, i, gotRank[i], wantRank[i])
			}
		}
	}
	// The corpus must exercise what it claims to.
	if pairs < 5000 || titled < pairs/10 || stripped < 100 || correlated < 20 {
		t.Fatalf("weak corpus: %d pairs, %d with a title score, %d better without service names, %d groups correlated",
			pairs, titled, stripped, correlated)
	}
	t.Logf("%d pairs, %d with a title score, %d better without service names, %d of 400 groups correlated",
		pairs, titled, stripped, correlated)
}

// TestGraphMatchesReference compares NewGraph's Distance with the
// breadth-first search it replaced over random graphs, asked in random
// order (the new one remembers earlier searches).
func TestGraphMatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for round := 0; round < 50; round++ {
		nodes := 2 + r.Intn(30)
		name := func() string { return fmt.Sprintf("S%d", r.Intn(nodes)) }
		var edges [][2]string
		for n := r.Intn(2 * nodes); n > 0; n-- {
			edges = append(edges, [2]string{name(), name()})
		}
		g, rg := NewGraph(edges), referenceNewGraph(edges)
		for q := 0; q < 400; q++ {
			from, to := name(), name()
			if r.Intn(20) == 0 {
				to = "unknown"
			}
			if r.Intn(20) == 0 {
				from = " " + from
			}
			gh, gok := g.Distance(from, to)
			wh, wok := rg.Distance(from, to)
			if gh != wh || gok != wok {
				t.Fatalf("round %d: Distance(%q, %q) = %d, %v; want %d, %v (edges %v)", round, from, to, gh, gok, wh, wok, edges)
			}
		}
		// A fresh graph asked from several goroutines at once (go test
		// -race checks that what it remembers is guarded).
		g = NewGraph(edges)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Go(func() {
				for i := 0; i < nodes; i++ {
					for j := 0; j < nodes; j++ {
						from, to := fmt.Sprintf("S%d", (i+w)%nodes), fmt.Sprintf("S%d", j)
						gh, gok := g.Distance(from, to)
						if wh, wok := rg.Distance(from, to); gh != wh || gok != wok {
							t.Errorf("concurrent Distance(%q, %q) = %d, %v; want %d, %v", from, to, gh, gok, wh, wok)
							return
						}
					}
				}
			})
		}
		wg.Wait()
	}
}

// FuzzTitleScore compares the title part of Evaluate, and TitleSimilarity,
// with the reference for any titles and service names.
func FuzzTitleScore(f *testing.F) {
	f.Add("Connection errors on payments-api", "payments-api", "postgres-primary: connection errors", "postgres-primary")
	f.Add("High latency on pod-7f9c", "PPAY", "High latency on pod-1a2b", "Payments API")
	f.Add("ΣΊΣΥΦΟΣ İstanbul \xff", "ǅ", "σίσυφος i̇stanbul", "")
	f.Add("", "", "the on 7", "the")
	f.Fuzz(func(t *testing.T, ta, sa, tb, sb string) {
		a := Candidate{ID: "a", ServiceID: "A", ServiceName: sa, Title: ta, StartedAt: t0}
		b := Candidate{ID: "b", ServiceID: sb, ServiceName: sb, Title: tb, StartedAt: t0}
		got, _ := Evaluate(Config{}, nil, a, b)
		want, _ := referenceEvaluate(Config{}, nil, a, b)
		if !identical(got, want) {
			t.Fatalf("Evaluate: got %+v, want %+v", got, want)
		}
		if got, want := TitleSimilarity(ta, tb), referenceTitleSimilarity(ta, tb); !sameBits(got, want) {
			t.Fatalf("TitleSimilarity = %v, want %v", got, want)
		}
		if got, want := TitleTokens(ta), referenceTitleTokens(ta); !reflect.DeepEqual(got, want) {
			t.Fatalf("TitleTokens = %q, want %q", got, want)
		}
	})
}
