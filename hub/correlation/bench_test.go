package correlation

import (
	"fmt"
	"testing"
	"time"
)

// benchTitles are alert titles as providers send them: partly overlapping,
// with pod ids and numbers that TitleTokens drops, and service names.
var benchTitles = []string{
	"High CPU on payments-api pod %d",
	"Connection errors on postgres-primary",
	"High latency on pod-%04x",
	"HTTP 5xx rate above %d%% on payments-api",
	"Error budget burn on payments-api (%d)",
	"Pod payments-api-%x restarting",
	"Queue depth high (%d) for orders-consumer",
	"Connection pool exhausted on payments-api",
	"Memory usage above %d%% on payments-api pod 3",
	"Replication lag above threshold on postgres-primary",
	"Disk almost full on /var/lib/postgresql (node %d)",
	"Card declines spiking in checkout",
}

func benchTitle(i int) string {
	t := benchTitles[i%len(benchTitles)]
	if n := countVerbs(t); n > 0 {
		return fmt.Sprintf(t, 0x1000+i*7919)
	}
	return t
}

func countVerbs(s string) (n int) {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '%' {
			if s[i+1] == '%' {
				i++
				continue
			}
			n++
		}
	}
	return n
}

// benchServices: payments-api's neighbours and a few unrelated services.
var benchServices = [][2]string{
	{"PPAY", "payments-api"}, {"PPG", "postgres-primary"}, {"PCHK", "checkout"},
	{"PORD", "orders-consumer"}, {"PSTORE", "storage"}, {"PSEARCH", "search"},
	{"PMAIL", "mailer"}, {"PAUTH", "auth-service"}, {"PCDN", "cdn-edge"}, {"PKAFKA", "kafka"},
}

var benchEdges = [][2]string{
	{"PCHK", "PPAY"}, {"PPAY", "PPG"}, {"PPG", "PSTORE"}, {"PORD", "PKAFKA"}, {"PPAY", "PORD"},
}

// benchOpen returns 50 open candidates within the window before at(15m):
// all of payments-api, or spread over ten services.
func benchOpen(mixed bool) []Candidate {
	open := make([]Candidate, 50)
	for i := range open {
		svc := benchServices[0]
		if mixed {
			svc = benchServices[i%len(benchServices)]
		}
		open[i] = Candidate{
			ID: fmt.Sprintf("inc-%03d", i), Provider: []string{"pagerduty", "alertmanager"}[i%2],
			ServiceID: svc[0], ServiceName: svc[1], IncidentKey: fmt.Sprintf("key-%d", i),
			DedupKeys: []string{fmt.Sprintf("dedup-%d", i)},
			Title:     benchTitle(i), StartedAt: at(time.Duration(i) * 15 * time.Second),
		}
	}
	return open
}

var benchSink Score

// BenchmarkBest scores one new incident against 50 open candidates, the
// work correlation does for every new incident of an alert storm. The
// graph-per-call case builds the dependency graph for every call, as
// hub/pipeline does; the others share one.
func BenchmarkBest(b *testing.B) {
	incoming := Candidate{
		ID: "new", Provider: "pagerduty", ServiceID: "PPAY", ServiceName: "payments-api",
		IncidentKey: "key-new", Title: "High CPU on payments-api pod 12", StartedAt: at(15 * time.Minute),
	}
	shared := NewGraph(benchEdges)
	for _, bc := range []struct {
		name     string
		mixed    bool
		newGraph bool
	}{{"same-service", false, false}, {"mixed-services", true, false}, {"mixed-services-graph-per-call", true, true}} {
		open := benchOpen(bc.mixed)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g := shared
				if bc.newGraph {
					g = NewGraph(benchEdges)
				}
				benchSink, _ = Best(Config{}, g, incoming, open)
			}
		})
	}
}
