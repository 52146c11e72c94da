// Command pagerduty-sim runs the in-memory PagerDuty simulator (pdsim) with
// demo data, for demos and manual testing. Its tokens are fake.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aurora-hub/aurora-hub/tools/pdsim"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:5090", "address to listen on")
	subdomain := flag.String("subdomain", "acme", "account subdomain used in html_url links")
	flag.Parse()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("pagerduty-sim: %v", err)
	}
	base := "http://" + ln.Addr().String()

	sim := pdsim.New(pdsim.Options{Subdomain: *subdomain})
	sim.SetBaseURL(base)
	sim.Seed()

	fmt.Printf("PagerDuty simulator listening on %s (subdomain %q)\n", base, *subdomain)
	fmt.Printf("  REST API base URL:     %s\n", base)
	fmt.Printf("  OAuth authorize/token: %s/oauth/authorize  %s/oauth/token\n", base, base)
	fmt.Println("Demo credentials (fake):")
	fmt.Printf("  user token (Ada Admin, write):        %s\n", pdsim.DemoUserToken)
	fmt.Printf("  user token (Omar Observer, read):     %s\n", pdsim.DemoObserverToken)
	fmt.Printf("  account token (write, needs From):    %s\n", pdsim.DemoAccountToken)
	fmt.Printf("  account token (read-only):            %s\n", pdsim.DemoReadOnlyToken)
	fmt.Printf("  OAuth client id / secret:             %s / %s\n", pdsim.DemoOAuthClientID, pdsim.DemoOAuthClientSecret)
	fmt.Printf("Try: curl -H 'Authorization: Token token=%s' %s/users/me\n", pdsim.DemoUserToken, base)
	os.Stdout.Sync()

	srv := &http.Server{Handler: logRequests(sim), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		h.ServeHTTP(rec, r)
		log.Printf("%s %s -> %d (%s)", r.Method, r.URL.RequestURI(), rec.status, time.Since(start).Round(time.Millisecond))
	})
}
