package pdsim

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// TestHandlersDoNotTakeTheLock: ServeHTTP holds s.mu around every REST
// handler, and sync.Mutex is not reentrant, so a handler that locks it,
// itself or through a Sim method it calls (outside a go statement), hangs
// the request. This reads the package's source and names the culprit.
func TestHandlersDoNotTakeTheLock(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	methods := map[string]*ast.FuncDecl{} // the methods of *Sim, by name
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv != nil && fd.Body != nil && recvIsSim(fd) {
				methods[fd.Name.Name] = fd
			}
		}
	}
	if len(methods) < len(routes) {
		t.Fatalf("found %d methods of *Sim for %d routes: the source was not read", len(methods), len(routes))
	}

	// locks reports the chain of calls from fd to a s.mu.Lock(), if any.
	var locks func(fd *ast.FuncDecl, seen map[string]bool) []string
	locks = func(fd *ast.FuncDecl, seen map[string]bool) []string {
		name := fd.Name.Name
		if seen[name] {
			return nil
		}
		seen[name] = true
		recv := fd.Recv.List[0].Names[0].Name
		var chain []string
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if chain != nil {
				return false
			}
			if _, ok := n.(*ast.GoStmt); ok {
				return false // another goroutine may wait for the lock
			}
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if sel.Sel.Name == "Lock" && exprString(sel.X) == recv+".mu" {
				chain = []string{name, recv + ".mu.Lock()"}
				return false
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == recv {
				if callee, ok := methods[sel.Sel.Name]; ok {
					if sub := locks(callee, seen); sub != nil {
						chain = append([]string{name}, sub...)
						return false
					}
				}
			}
			return true
		})
		return chain
	}

	for _, rt := range routes {
		full := runtime.FuncForPC(reflect.ValueOf(rt.handle).Pointer()).Name() // ...pdsim.(*Sim).getUser
		name := full[strings.LastIndexByte(full, '.')+1:]
		fd, ok := methods[name]
		if !ok {
			t.Errorf("%s %s: handler %s not found in the source", rt.method, rt.pattern, full)
			continue
		}
		if chain := locks(fd, map[string]bool{}); chain != nil {
			t.Errorf("%s %s: %s takes s.mu, which ServeHTTP already holds", rt.method, rt.pattern, strings.Join(chain, " -> "))
		}
	}
}

func recvIsSim(fd *ast.FuncDecl) bool {
	if len(fd.Recv.List) != 1 || len(fd.Recv.List[0].Names) != 1 {
		return false
	}
	star, ok := fd.Recv.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	id, ok := star.X.(*ast.Ident)
	return ok && id.Name == "Sim"
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	}
	return ""
}
