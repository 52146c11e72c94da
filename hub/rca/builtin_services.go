package rca

// The service graph: names learned from the evidence, the incident's
// dependencies, and how a service relates to the incident's.

import (
	"strings"

	"github.com/aurora-hub/aurora-hub/hub"
	"github.com/aurora-hub/aurora-hub/hub/correlation"
	"github.com/aurora-hub/aurora-hub/sdk"
)

// relation of a service to the incident's service.
type relation int

const (
	relNone relation = iota
	relDownstream
	relDependency // a dependency of unknown direction
	relUpstream
	relSelf
)

// graphFactor scales a change's confidence by where it happened.
var graphFactor = map[relation]float64{relSelf: 1, relUpstream: 0.75, relDependency: 0.6, relDownstream: 0.45}

type dep struct {
	id, name string
	rel      relation
}

func (a *analysis) name(id, name string) {
	if id, name = strings.TrimSpace(id), strings.TrimSpace(name); id != "" && name != "" && a.names[id] == "" {
		a.names[id] = name
	}
}

func (a *analysis) learnNames() {
	a.name(a.svcID, a.svcName)
	for _, ev := range a.in.Evidence {
		if ev.Service != nil {
			a.name(ev.Service.ID, ev.Service.Summary)
		}
	}
	for _, list := range [][]hub.Incident{a.in.Correlated, a.in.Related} {
		for _, inc := range list {
			if inc.Service != nil {
				a.name(inc.Service.ID, inc.Service.Summary)
			}
		}
	}
	for _, ev := range a.in.Evidence {
		if ev.Kind != sdk.EvidenceDependency {
			continue
		}
		m := object(ev.Data)
		for _, k := range []string{"supporting_service", "dependent_service"} {
			s := object(m[k])
			a.name(str(s["id"]), firstOf(str(s["summary"]), str(s["name"])))
		}
	}
}

// serviceName is the best known name of a service.
func (a *analysis) serviceName(id, name string) string {
	if name = strings.TrimSpace(name); name != "" {
		return name
	}
	if n := a.names[strings.TrimSpace(id)]; n != "" {
		return n
	}
	return strings.TrimSpace(id)
}

func (a *analysis) incidentService() string {
	if n := a.serviceName(a.svcID, a.svcName); n != "" {
		return n
	}
	return "the affected service"
}

func (a *analysis) learnDependencies() {
	for _, ev := range a.in.Evidence {
		if ev.Kind != sdk.EvidenceDependency || ev.Service == nil || strings.TrimSpace(ev.Service.ID) == "" {
			continue
		}
		other := ev.Service
		m := object(ev.Data)
		sup, dnt := str(object(m["supporting_service"])["id"]), str(object(m["dependent_service"])["id"])
		rel := relDependency
		lower := strings.ToLower(ev.Summary)
		switch {
		case sup != "" && sup == other.ID:
			rel = relUpstream
		case dnt != "" && dnt == other.ID:
			rel = relDownstream
		case strings.HasPrefix(lower, "depends on "):
			rel = relUpstream
		case strings.HasSuffix(lower, "depends on this service"):
			rel = relDownstream
		}
		d := a.dependency(other.ID, "")
		if d == nil {
			d = &dep{id: strings.TrimSpace(other.ID), rel: rel}
			a.deps = append(a.deps, d)
		} else if rel > d.rel {
			d.rel = rel
		}
		d.name = a.serviceName(other.ID, other.Summary)
	}
}

func (a *analysis) dependency(id, name string) *dep {
	id, n := strings.TrimSpace(id), correlation.NormalizeServiceName(name)
	for _, d := range a.deps {
		if (id != "" && d.id == id) || (n != "" && correlation.NormalizeServiceName(d.name) == n) {
			return d
		}
	}
	return nil
}

// relationOf places a service (id and/or name) relative to the incident's.
func (a *analysis) relationOf(id, name string) (relation, string) {
	id, name = strings.TrimSpace(id), strings.TrimSpace(name)
	if id == "" && name == "" {
		return relNone, ""
	}
	full := a.serviceName(id, name)
	if id != "" && id == a.svcID {
		return relSelf, a.incidentService()
	}
	own := correlation.NormalizeServiceName(a.serviceName(a.svcID, a.svcName))
	for _, n := range []string{name, a.names[id], id} {
		if own != "" && correlation.NormalizeServiceName(n) == own {
			return relSelf, a.incidentService()
		}
	}
	if d := a.dependency(id, full); d != nil {
		return d.rel, d.name
	}
	if d := a.dependency("", id); d != nil {
		return d.rel, d.name
	}
	return relNone, full
}
