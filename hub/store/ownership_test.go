package store_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// owners is the persistence ownership map (issue #11): each hub table has
// exactly one package (a directory under hub/) that declares its Bun model
// and queries it; every other package calls that owner's functions. A new
// table needs an entry here, or TestPersistenceOwnership fails.
var owners = map[string]string{
	"connections": "store", "user_orgs": "store", "org_memberships": "store", "webhook_secrets": "store",
	"webhook_keys": "store", "webhook_state": "store", "webhook_inbox": "store", "oauth_states": "store",
	"settings": "store", "incident_enrichments": "store", "incident_evidence": "store", "service_evidence": "store",
	"incident_rca": "store", "incident_thoughts": "store", "incident_citations": "store", "incident_suggestions": "store",

	"incidents": "incidents", "incident_events": "incidents", "incident_custom_fields": "incidents",
	"incident_feedback": "incidents", "incident_correlations": "incidents", "incident_processed": "incidents",

	"hub_replicas": "jobs",
	// River's own tables (created by River's migrations, not the hub's).
	"river_job": "jobs", "river_leader": "jobs", "river_queue": "jobs", "river_client": "jobs",
	"river_client_queue": "jobs", "river_migration": "jobs",

	"hub_health":       "health",
	"api_rate_buckets": "apilimit",
}

// queryMethods are the calls that issue SQL (Bun's query builders, raw
// database/sql calls) or open a transaction around them; only owners make
// them. Store.InTx is how others group owners' calls in a transaction.
var queryMethods = map[string]bool{
	"NewSelect": true, "NewInsert": true, "NewUpdate": true, "NewDelete": true, "NewRaw": true,
	"NewCreateTable": true, "NewDropTable": true, "NewTruncateTable": true, "NewMerge": true, "NewValues": true,
	"NewCreateIndex": true, "NewDropIndex": true, "NewAddColumn": true, "NewDropColumn": true,
	"ExecContext": true, "QueryContext": true, "QueryRowContext": true, "RunInTx": true, "BeginTx": true,
}

// tableCalls take a table name as their first argument.
var tableCalls = map[string]bool{"Table": true, "TableExpr": true, "ModelTableExpr": true}

// TestPersistenceOwnership parses every non-test Go file under hub/ and
// fails when a Bun model of a table is declared outside the table's owner
// (or twice), when a package names a table it does not own in SQL, or when
// a package that owns no table issues a query.
func TestPersistenceOwnership(t *testing.T) {
	hubDir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tables := migrationTables(t, filepath.Join(hubDir, "store", "migrations"))
	for _, tbl := range tables {
		if owners[tbl] == "" {
			t.Errorf("table %s (created by the migrations) has no owner: add it to owners", tbl)
		}
	}
	v := scan(t, hubDir, tables)
	for _, p := range v.problems {
		t.Error(p)
	}
}

// migrationTables are the tables the hub's migrations create (both
// dialects), sorted.
func migrationTables(t *testing.T, dir string) []string {
	t.Helper()
	create := regexp.MustCompile(`(?i)\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"?([a-z_][a-z0-9_]*)"?`)
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".up.sql") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range create.FindAllStringSubmatch(string(b), -1) {
			seen[strings.ToLower(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 10 {
		t.Fatalf("found only %d tables in %s: is the migrations reader broken?", len(seen), dir)
	}
	out := make([]string, 0, len(seen))
	for tbl := range seen {
		out = append(out, tbl)
	}
	sort.Strings(out)
	return out
}

type violations struct {
	problems []string
}

func (v *violations) add(file string, pos token.Position, format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf("%s:%d: %s", file, pos.Line, fmt.Sprintf(format, args...)))
}

// scan checks every non-test .go file under hubDir.
func scan(t *testing.T, hubDir string, tables []string) *violations {
	t.Helper()
	known := slices.Clone(tables)
	for tbl := range owners {
		if !slices.Contains(known, tbl) {
			known = append(known, tbl)
		}
	}
	// SQL that names a table: FROM x, JOIN x, INTO x, UPDATE x, TABLE x, ...
	sqlName := regexp.MustCompile(`(?i)\b(?:FROM|JOIN|INTO|UPDATE|TABLE|TRUNCATE)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"?(` +
		strings.Join(known, "|") + `)"?(?:[^a-z0-9_]|$)`)
	isOwner := map[string]bool{}
	for _, pkg := range owners {
		isOwner[pkg] = true
	}
	v := &violations{}
	models := map[string][]string{} // table -> where declared
	fset := token.NewFileSet()
	type file struct {
		rel, pkg string
		f        *ast.File
	}
	var files []file
	err := filepath.WalkDir(hubDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" || d.Name() == "migrations" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(hubDir, path)
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files = append(files, file{rel, filepath.ToSlash(filepath.Dir(rel)), f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Bun model types by "pkg.Type", for the check of owners below.
	modelTypes := map[string]string{}
	for _, f := range files {
		ast.Inspect(f.f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					for _, fld := range st.Fields.List {
						if tbl := modelTable(fld); tbl != "" {
							modelTypes[f.pkg+"."+ts.Name.Name] = tbl
						}
					}
				}
			}
			return true
		})
	}
	for _, file := range files {
		rel, pkg, f := file.rel, file.pkg, file.f
		// An owner that queries may not use another owner's models (it
		// would query that owner's table through them).
		queries := false
		ast.Inspect(f, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				if sel, ok := c.Fun.(*ast.SelectorExpr); ok && queryMethods[sel.Sel.Name] {
					queries = true
				}
			}
			return !queries
		})
		hubImports := map[string]string{} // local name -> package dir under hub/
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			dir, ok := strings.CutPrefix(path, "github.com/aurora-hub/aurora-hub/hub/")
			if !ok {
				continue
			}
			name := dir[strings.LastIndex(dir, "/")+1:]
			if imp.Name != nil {
				name = imp.Name.Name
			}
			hubImports[name] = dir
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Field:
				if tbl := modelTable(n); tbl != "" {
					models[tbl] = append(models[tbl], rel)
					switch owner := owners[tbl]; {
					case owner == "":
						v.add(rel, fset.Position(n.Pos()), "Bun model of table %s, which has no owner in the map", tbl)
					case owner != pkg:
						v.add(rel, fset.Position(n.Pos()), "Bun model of table %s outside its owner (hub/%s)", tbl, owner)
					}
				}
			case *ast.SelectorExpr:
				x, ok := n.X.(*ast.Ident)
				if !ok || !queries || !isOwner[pkg] || hubImports[x.Name] == "" {
					return true
				}
				if tbl := modelTypes[hubImports[x.Name]+"."+n.Sel.Name]; tbl != "" && owners[tbl] != pkg {
					v.add(rel, fset.Position(n.Pos()), "%s.%s is hub/%s's model of table %s: call the owner's functions instead", x.Name, n.Sel.Name, owners[tbl], tbl)
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if queryMethods[sel.Sel.Name] && !isOwner[pkg] {
					v.add(rel, fset.Position(n.Pos()), "%s: a package that owns no table issues a query (call its owner's functions)", sel.Sel.Name)
				}
				if tableCalls[sel.Sel.Name] && len(n.Args) > 0 {
					if s, ok := stringLit(n.Args[0]); ok {
						name := strings.Trim(strings.Fields(s + " x")[0], `"`)
						if owner := owners[name]; owner != "" && owner != pkg {
							v.add(rel, fset.Position(n.Pos()), "%s(%q): table %s is hub/%s's", sel.Sel.Name, s, name, owner)
						}
					}
				}
			case *ast.BasicLit:
				s, ok := stringLit(n)
				if !ok {
					return true
				}
				for _, m := range sqlName.FindAllStringSubmatch(s, -1) {
					if owner := owners[strings.ToLower(m[1])]; owner != pkg {
						v.add(rel, fset.Position(n.Pos()), "SQL names table %s, which is hub/%s's: %q", m[1], owner, s)
					}
				}
			}
			return true
		})
	}
	if len(files) < 50 {
		t.Fatalf("parsed only %d files under %s", len(files), hubDir)
	}
	for tbl, where := range models {
		if len(where) > 1 {
			v.problems = append(v.problems, fmt.Sprintf("table %s has %d Bun models (one per table): %s", tbl, len(where), strings.Join(where, ", ")))
		}
	}
	sort.Strings(v.problems)
	return v
}

// modelTable is the table of a `bun:"table:x"` tag on field f ("" if none).
func modelTable(f *ast.Field) string {
	if f.Tag == nil {
		return ""
	}
	tag, err := strconv.Unquote(f.Tag.Value)
	if err != nil {
		return ""
	}
	for _, opt := range strings.Split(reflect.StructTag(tag).Get("bun"), ",") {
		if name, ok := strings.CutPrefix(opt, "table:"); ok {
			return strings.Trim(name, `"`)
		}
	}
	return ""
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}
